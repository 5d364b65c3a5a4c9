# One helper per kind of target, so every target is declared the same way.
#   cp_library(name SOURCES ... DEPS ...)      static library of one layer
#   cp_executable(name SOURCES ... DEPS ...)   thin main
#   cp_test(name SOURCES ... DEPS ... LABELS ... [RESOURCE_LOCK x] [TIMEOUT s])
#   cp_bench(name SOURCES ... DEPS ...)        Google Benchmark / load generator
#   cp_fuzz(name SOURCE file DEPS ... CORPUS dir)  libFuzzer target + corpus replay under ctest

# -Wmaybe-uninitialized is off: with g++ 12 it fires only inside simdjson's and libstdc++'s
# headers (std::regex, std::function), never on our code, and buries real warnings.
set(CP_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wnull-dereference -Wimplicit-fallthrough -Wno-missing-field-initializers
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)

add_library(cp_options INTERFACE)
# -pthread everywhere (the engine, the log writer and pcsclite's flags want it): one set of
# defines (_REENTRANT) for every translation unit, so the precompiled headers fit them all.
target_compile_options(cp_options INTERFACE ${CP_WARNINGS} -pthread)
target_link_options(cp_options INTERFACE -pthread)
target_compile_definitions(cp_options INTERFACE _GNU_SOURCE)
if(CP_SANITIZE)
  # vptr is left out: its runtime probes memory through pipe(2), which fails while the
  # descriptor table is full (the EMFILE tests), and then reports valid objects as invalid.
  target_compile_options(cp_options INTERFACE -fsanitize=address,undefined -fno-sanitize=vptr
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_definitions(cp_options INTERFACE _GLIBCXX_ASSERTIONS CP_SANITIZE=1)
  target_link_options(cp_options INTERFACE -fsanitize=address,undefined)
endif()
if(CP_TSAN)
  # -Wno-tsan: TSan does not model std::atomic_thread_fence, which the reactor's sleep/wake
  # handshake (Reactor::notify, run_once) and liburing's barriers use; g++ warns at every use.
  # Those fences order a Dekker pair TSan cannot see either way; the wake-up tests cover it.
  target_compile_options(cp_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  target_compile_definitions(cp_options INTERFACE CP_TSAN=1)
  target_link_options(cp_options INTERFACE -fsanitize=thread)
endif()
if(CP_FUZZ)
  target_compile_options(cp_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(cp_options INTERFACE -fsanitize=address,undefined)
endif()

# Test code itself is compiled without optimisation: what a test exercises — the libraries — keeps
# its build's flags (-O2 in release, -O1 + sanitizers in ci), while the test's own translation
# unit, mostly GoogleTest macro expansions, compiles in half the time (13 s -> 6 s for the SMSC
# core's test). Benchmarks and fuzz replays keep the build's optimisation.
set(CP_TEST_OPTIMIZE -O0)

# Precompiled headers (CP_PCH, on by default): the heavy third-party and standard headers every
# translation unit of a kind parses are compiled once per build directory into one of two
# headers, and every target of that kind reuses it (REUSE_FROM, so each is built only once):
#   cp_pch_lib   the standard library and fmt      -> libraries, mains, benchmarks, fuzz replays
#   cp_pch_test  the same plus GoogleTest          -> tests
# The flags of the targets match the pch targets' (all take cp_options), so GCC accepts them.
# CLI11 is in neither: only base/cli.cc includes it (the mains use its facade, base/cli.h), as
# precompiling it still left ~8 s of compile per main.
option(CP_PCH "Precompile the heavy common headers" ON)
set(CP_PCH_STD <algorithm> <array> <atomic> <chrono> <cstdint> <cstring> <functional> <map>
    <memory> <optional> <span> <string> <string_view> <unordered_map> <utility> <vector>
    <fmt/format.h>)
if(CP_PCH)
  file(WRITE ${CMAKE_BINARY_DIR}/cp_pch_empty.cc "// translation unit of the pch targets\n")
  add_library(cp_pch_lib OBJECT ${CMAKE_BINARY_DIR}/cp_pch_empty.cc)
  target_link_libraries(cp_pch_lib PRIVATE cp_options fmt::fmt Threads::Threads)
  target_include_directories(cp_pch_lib SYSTEM PRIVATE ${TL_EXPECTED_INCLUDE})
  target_precompile_headers(cp_pch_lib PRIVATE ${CP_PCH_STD} <tl/expected.hpp>)

  if(CP_BUILD_TESTS)
    add_library(cp_pch_test OBJECT ${CMAKE_BINARY_DIR}/cp_pch_empty.cc)
    target_compile_options(cp_pch_test PRIVATE ${CP_TEST_OPTIMIZE})
    target_link_libraries(cp_pch_test PRIVATE cp_options fmt::fmt Threads::Threads GTest::gtest)
    target_include_directories(cp_pch_test SYSTEM PRIVATE ${TL_EXPECTED_INCLUDE})
    target_precompile_headers(cp_pch_test PRIVATE ${CP_PCH_STD} <tl/expected.hpp>
                              <gtest/gtest.h>)
  endif()
endif()

# Makes `target` reuse the precompiled header of `kind` (lib, test).
function(cp_use_pch target kind)
  if(CP_PCH)
    target_precompile_headers(${target} REUSE_FROM cp_pch_${kind})
  endif()
endfunction()

function(cp_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  cp_use_pch(${name} lib)
  target_link_libraries(${name} PUBLIC cp_options ${A_PUBLIC_DEPS} PRIVATE ${A_DEPS})
endfunction()

function(cp_executable name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE cp_options ${A_DEPS})
  cp_use_pch(${name} lib)
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()

# One test executable per area (tests/<area>/): its files compile together (unity), so the
# headers they share are parsed once. SHARDS n runs it as n ctest entries, name_1..name_n, each
# a GoogleTest shard (GTEST_TOTAL_SHARDS / GTEST_SHARD_INDEX: every test in exactly one), so a
# large area still runs in parallel; COST hints ctest to start long ones first.
function(cp_test name)
  cmake_parse_arguments(A "" "RESOURCE_LOCK;TIMEOUT;SHARDS;COST" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE cp_options ${A_DEPS} GTest::gtest cp_test_main)
  target_compile_options(${name} PRIVATE ${CP_TEST_OPTIMIZE})
  cp_use_pch(${name} test)
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  if(NOT A_SHARDS)
    set(A_SHARDS 1)
  endif()
  set(tests)
  if(A_SHARDS EQUAL 1)
    add_test(NAME ${name} COMMAND ${name})
    list(APPEND tests ${name})
  else()
    math(EXPR last "${A_SHARDS} - 1")
    foreach(i RANGE ${last})
      math(EXPR n "${i} + 1")
      add_test(NAME ${name}_${n} COMMAND ${name})
      set_tests_properties(${name}_${n} PROPERTIES
                           ENVIRONMENT "GTEST_TOTAL_SHARDS=${A_SHARDS};GTEST_SHARD_INDEX=${i}")
      list(APPEND tests ${name}_${n})
    endforeach()
  endif()
  set_tests_properties(${tests} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                       SKIP_RETURN_CODE 77)
  if(A_COST)
    set_tests_properties(${tests} PROPERTIES COST ${A_COST})
  endif()
  if(A_RESOURCE_LOCK)
    set_tests_properties(${tests} PROPERTIES RESOURCE_LOCK ${A_RESOURCE_LOCK})
  endif()
endfunction()

function(cp_bench name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;SMOKE_ARGS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE cp_options ${A_DEPS})
  cp_use_pch(${name} lib)
  if(CP_BUILD_TESTS AND A_SMOKE_ARGS)
    # Benchmarks also run as a short smoke test, never gated on a time.
    add_test(NAME ${name}_smoke COMMAND ${name} ${A_SMOKE_ARGS})
    set_tests_properties(${name}_smoke PROPERTIES LABELS "bench" TIMEOUT 120
                         SKIP_RETURN_CODE 77)
  endif()
endfunction()

# A fuzz target is one file defining LLVMFuzzerTestOneInput. Under the `fuzz` preset it links
# libFuzzer; in every other build it links fuzz/replay_main.cc and ctest replays its corpus.
function(cp_fuzz name)
  cmake_parse_arguments(A "" "SOURCE;CORPUS" "DEPS" ${ARGN})
  if(CP_FUZZ)
    add_executable(${name} ${A_SOURCE})
    target_link_libraries(${name} PRIVATE cp_options ${A_DEPS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name}_replay ${A_SOURCE} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cc)
    target_link_libraries(${name}_replay PRIVATE cp_options ${A_DEPS})
    cp_use_pch(${name}_replay lib)
    if(CP_BUILD_TESTS)
      add_test(NAME ${name}_corpus COMMAND ${name}_replay ${A_CORPUS})
      set_tests_properties(${name}_corpus PROPERTIES LABELS "fuzz" TIMEOUT 300)
    endif()
  endif()
endfunction()
