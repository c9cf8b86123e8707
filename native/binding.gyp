{
  "targets": [
    {
      "target_name": "wsnic",
      "sources": ["wsnic.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
