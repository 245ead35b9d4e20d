{
  "targets": [
    { "target_name": "secp256k1_system", "sources": ["binding.c"], "cflags": ["-O2", "-Wall"], "libraries": ["-lsecp256k1"] }
  ]
}
