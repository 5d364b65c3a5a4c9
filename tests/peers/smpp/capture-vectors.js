// Prints PDUs as npm `smpp` 0.5.1 encodes them (its own PDU class), one per line:
// NAME HEX. The bytes in tests/proto/smpp_vectors_test.cc were captured with this script.
'use strict';
const smpp = require('smpp');
const out = (name, pdu) => console.log(name + ' ' + pdu.toBuffer().toString('hex'));
out('bind_transceiver', new smpp.PDU('bind_transceiver', { sequence_number: 1, system_id: 'demo', password: 'demo' }));
out('bind_transceiver_resp', new smpp.PDU('bind_transceiver_resp', { sequence_number: 1, system_id: 'npm-upstream' }));
out('submit_sm', new smpp.PDU('submit_sm', {
  sequence_number: 2, source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660001',
  dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12126660002', registered_delivery: 1,
  short_message: 'hello from npm smpp', user_message_reference: 0x1234 }));
out('submit_sm_payload', new smpp.PDU('submit_sm', {
  sequence_number: 3, source_addr: '12126660001', destination_addr: '12126660002',
  message_payload: 'a long text carried in message_payload', sar_msg_ref_num: 300,
  sar_total_segments: 2, sar_segment_seqnum: 1 }));
out('submit_sm_ucs2', new smpp.PDU('submit_sm', {
  sequence_number: 4, source_addr: '12126660001', destination_addr: '12126660002',
  short_message: 'Привет' }));
out('submit_sm_resp', new smpp.PDU('submit_sm_resp', { sequence_number: 2, message_id: '100000000000002a' }));
out('deliver_sm_receipt', new smpp.PDU('deliver_sm', {
  sequence_number: 5, source_addr: '12126660002', destination_addr: '12126660001', esm_class: 4,
  short_message: 'id:7000 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:',
  receipted_message_id: '7000', message_state: 2 }));
out('deliver_sm_resp', new smpp.PDU('deliver_sm_resp', { sequence_number: 5 }));
out('enquire_link', new smpp.PDU('enquire_link', { sequence_number: 6 }));
out('unbind', new smpp.PDU('unbind', { sequence_number: 7 }));
out('generic_nack', new smpp.PDU('generic_nack', { sequence_number: 8, command_status: 3 }));
out('data_sm', new smpp.PDU('data_sm', { sequence_number: 9, source_addr_ton: 1, source_addr: '12126660001', dest_addr_ton: 1, destination_addr: '12126660002', registered_delivery: 1, message_payload: 'data over data_sm' }));
out('query_sm', new smpp.PDU('query_sm', { sequence_number: 10, message_id: '100000000000002a', source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660001' }));
out('query_sm_resp', new smpp.PDU('query_sm_resp', { sequence_number: 10, message_id: '100000000000002a', final_date: '261123120000000+', message_state: 2, error_code: 0 }));
out('cancel_sm', new smpp.PDU('cancel_sm', { sequence_number: 11, message_id: '100000000000002a', source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660001', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12126660002' }));
out('replace_sm', new smpp.PDU('replace_sm', { sequence_number: 12, message_id: '100000000000002a', source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660001', short_message: 'replaced' }));
out('submit_multi', new smpp.PDU('submit_multi', { sequence_number: 13, source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660001', dest_address: [{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12126660002' }, { dl_name: 'friends' }], short_message: 'to many' }));
out('submit_multi_resp', new smpp.PDU('submit_multi_resp', { sequence_number: 13, message_id: '2a', unsuccess_sme: [{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12126660009', error_status_code: 11 }] }));
out('outbind', new smpp.PDU('outbind', { sequence_number: 14, system_id: 'upstream', password: 'pw' }));
out('alert_notification', new smpp.PDU('alert_notification', { sequence_number: 15, source_addr_ton: 1, source_addr_npi: 1, source_addr: '12126660002', esme_addr_ton: 1, esme_addr_npi: 1, esme_addr: '12126660001', ms_availability_status: 0 }));
