# Build speed without testing less (docs/ARCHITECTURE.md, "Building"): ccache and mold when
# present (scripts/deps.sh installs both from Debian). Neither changes what is built.
#   ccache: a rebuild on the same machine — another preset, a clean build directory, CI after a
#           session — compiles only what changed. pch_defines/time_macros let it cache the
#           translation units that use the precompiled headers; depend mode takes the headers
#           from the compiler's own dependency file instead of running the preprocessor first
#           (which, on a miss, cost as much as a third of a compile with CLI11 and GoogleTest).
#   mold:   links the ~100 executables of a build in a fraction of ld.bfd's time.
option(CP_CCACHE "Compile through ccache when it is installed" ON)
option(CP_MOLD "Link with mold when it is installed" ON)

find_program(CP_CCACHE_PROGRAM ccache)
if(CP_CCACHE AND CP_CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(_launcher env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_DEPEND=true ${CP_CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
endif()

find_program(CP_MOLD_PROGRAM mold)
if(CP_MOLD AND CP_MOLD_PROGRAM)
  if((CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
     OR CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_link_options(-fuse-ld=mold)
  endif()
endif()
