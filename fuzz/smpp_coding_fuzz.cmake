# SMPP text <-> SMS segments, receipts and times (proto/smpp/coding.h).
cp_fuzz(smpp_coding_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/smpp_coding_fuzz.cc DEPS cp_proto
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/smpp_coding_fuzz)
