# The control protocol decoders: frame_length, decode_request, decode_response (ctl/).
cp_fuzz(ctl_protocol_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/ctl_protocol_fuzz.cc DEPS cp_ctl
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/ctl_protocol_fuzz)
