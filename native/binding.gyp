{
  "target_defaults": {
    "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-pthread"],
    "ldflags": ["-pthread"]
  },
  "targets": [
    {
      "target_name": "wsnic",
      "sources": [
        "addon.c", "napi_check.c", "tap.c", "link.c", "tapport.c", "mask.c", "notify.c", "fdpass.c",
        "plane_napi.c", "resume.c", "plane.c", "session.c", "session_up.c", "session_down.c", "wsframe.c", "guard.c", "guard6.c", "guard_napi.c",
        "coalesce.c"
      ]
    },
    {
      "target_name": "wsnic_test",
      "sources": ["wsparse_test.c", "napi_check.c", "wsframe.c"]
    }
  ]
}
