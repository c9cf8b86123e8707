{
  "targets": [
    {
      "target_name": "wsnic",
      "sources": ["wsnic.c", "wsframe.c", "guard.c", "guard_napi.c", "session.c", "plane.c", "coalesce.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
