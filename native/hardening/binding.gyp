{
  "targets": [
    { "target_name": "hardening", "sources": ["hardening.c"], "cflags": ["-O2", "-Wall"] }
  ]
}
