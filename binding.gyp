{
  "targets": [
    {
      "target_name": "sidelane_addon",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/errors.cc",
        "native/addon/sockets.cc",
        "native/addon/nft.cc",
        "native/addon/relay.cc",
        "native/addon/acceptor.cc",
        "native/addon/privileges.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Wno-cast-function-type"]
    },
    {
      "target_name": "sidelane_hook",
      "type": "shared_library",
      "product_name": "sidelane_hook",
      "product_prefix": "lib",
      "sources": [
        "native/hook/hook.c",
        "native/hook/hook_config.c",
        "native/hook/hook_log.c",
        "native/hook/peer_table.c",
        "native/hook/proxy_v2.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-fPIC", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions"],
      "ldflags": ["-ldl", "-Wl,-z,now", "-Wl,--no-undefined"],
      "libraries": ["-ldl"]
    }
  ]
}
