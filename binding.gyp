{
  "targets": [
    {
      "target_name": "alcor_native",
      "sources": [
        "native/addon.cc",
        "native/src/bpf_map.cc",
        "native/src/bpf_elf.cc",
        "native/src/netns.cc",
        "native/src/xdp_link.cc",
        "native/src/packet_socket.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ]
    }
  ]
}
