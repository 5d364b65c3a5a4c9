# HttpRequestParser fed whole and in chunks (see http_request_fuzz.cc).
cp_fuzz(http_request_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/http_request_fuzz.cc
  DEPS cp_proto
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/http_request_fuzz)
