{
  "targets": [
    {
      "target_name": "cyclesparse_native",
      "sources": ["native/kernels.cc", "native/sparse.cc", "native/optimizer.cc"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-std=c++17"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
