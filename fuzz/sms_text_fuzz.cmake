# SMS user-data text: decode_user_data, parse_udh, septet packing, GSM 7 bit / UCS-2 / UTF-8
# round trips (see sms_text_fuzz.cc).
cp_fuzz(sms_text_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/sms_text_fuzz.cc
  DEPS cp_proto
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/sms_text_fuzz)
