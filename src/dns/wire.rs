//! Encoding a response: the header, the question as the client sent it, then the sections
//! while they fit (RFC 1035 §4.1, RFC 2181 §9, RFC 6891 §6.1).
//!
//! When the answers do not fit: additional records go first, whole RRsets, without TC; then the
//! answer section takes as many whole records as fit, and the reply says so with TC when the
//! limit is the client's UDP size (RFC 2181 §9 allows a partial RRset with TC): a client that
//! retries over TCP gets everything, one that cannot (musl before 1.2.4) still gets addresses.
//! Over TCP, a partial answer (more than 65,535 bytes of records) goes out without TC: a TCP
//! client has nowhere to retry, and Go's resolver discards a TCP reply with TC. An answer is
//! never empty for a name that has records. Names are compressed against every name already
//! written, case-insensitively.

use hickory_proto::op::{Edns, Metadata};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

const HEADER_LEN: usize = 12;
/// An OPT record without options: root name, type, class, TTL, RDLENGTH.
const OPT_LEN: usize = 11;
/// Compression pointers can reach only the first 16 KiB of a message.
const MAX_POINTER: usize = 0x3FFF;
/// Names remembered for compression; enough for any answer we build.
const MAX_NAMES: usize = 128;

/// Everything a response says, in the order it is written.
pub struct Response<'a> {
    pub metadata: Metadata,
    /// The question section exactly as received (name in the client's case, type, class).
    pub question: &'a [u8],
    pub question_count: u16,
    pub answers: &'a [Record],
    pub authorities: &'a [Record],
    pub additionals: &'a [Record],
    pub edns: Option<&'a Edns>,
}

/// How large a reply may be, and what a partial answer means there.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub size: usize,
    /// Set TC on a partial answer: the client can retry over TCP (true for UDP).
    pub tc_when_partial: bool,
}

/// The encoded message, and what of the answer it carries.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// Answer records sent, and left out for lack of room.
    pub answers_sent: usize,
    pub answers_left_out: usize,
}

pub fn encode(response: &Response<'_>, limit: Limit) -> Encoded {
    let reserve = response.edns.map_or(0, |_| OPT_LEN);
    let mut writer =
        Writer { buf: Vec::with_capacity(512), names: Vec::new(), limit: limit.size.saturating_sub(reserve) };
    writer.buf.extend_from_slice(&[0; HEADER_LEN]);
    writer.buf.extend_from_slice(response.question);
    if response.question_count > 0 {
        writer.remember_question();
    }
    let answers = writer.records(response.answers);
    let answers_left_out = response.answers.len() - usize::from(answers);
    let partial = answers_left_out > 0;
    let mut truncated = partial && limit.tc_when_partial;
    let authorities = if partial {
        0
    } else {
        let (written, left_out) = writer.section(response.authorities, true);
        truncated = left_out;
        written
    };
    // A partial answer already fills the message: nothing more is worth sending.
    let (mut additionals, _) =
        if partial || truncated { (0, false) } else { writer.section(response.additionals, false) };
    if let Some(edns) = response.edns {
        writer.opt(edns, response.metadata.response_code.high());
        additionals += 1;
    }
    let mut metadata = response.metadata;
    metadata.truncation |= truncated;
    writer.header(&metadata, response.question_count, [answers, authorities, additionals]);
    Encoded { bytes: writer.buf, truncated: metadata.truncation, answers_sent: usize::from(answers), answers_left_out }
}

struct Writer {
    buf: Vec<u8>,
    /// Offsets of names (and name suffixes) written so far.
    names: Vec<u16>,
    limit: usize,
}

impl Writer {
    fn header(&mut self, m: &Metadata, questions: u16, [answers, authorities, additionals]: [u16; 3]) {
        let op_code: u8 = m.op_code.into();
        let flags_high = 0x80
            | (op_code & 0x0F) << 3
            | u8::from(m.authoritative) << 2
            | u8::from(m.truncation) << 1
            | u8::from(m.recursion_desired);
        let flags_low = u8::from(m.recursion_available) << 7
            | u8::from(m.authentic_data) << 5
            | u8::from(m.checking_disabled) << 4
            | m.response_code.low();
        let header = &mut self.buf[..HEADER_LEN];
        header[0..2].copy_from_slice(&m.id.to_be_bytes());
        header[2] = flags_high;
        header[3] = flags_low;
        for (i, count) in [questions, answers, authorities, additionals].into_iter().enumerate() {
            header[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
        }
    }

    /// Remembers the question name's suffixes, so answers owned by it compress to a pointer.
    fn remember_question(&mut self) {
        let mut at = HEADER_LEN;
        while let Some(&len) = self.buf.get(at) {
            if len == 0 || len & 0xC0 != 0 {
                break;
            }
            self.remember(at);
            at += 1 + usize::from(len);
        }
    }

    fn remember(&mut self, offset: usize) {
        if offset <= MAX_POINTER && self.names.len() < MAX_NAMES {
            self.names.push(offset as u16);
        }
    }

    /// Writes records in order while each fits whole; returns how many were written.
    fn records(&mut self, records: &[Record]) -> u16 {
        let mut written = 0u16;
        for record in records {
            let (mark, names) = (self.buf.len(), self.names.len());
            self.record(record);
            if self.buf.len() > self.limit || written == u16::MAX {
                self.buf.truncate(mark);
                self.names.truncate(names);
                break;
            }
            written += 1;
        }
        written
    }

    /// Writes the RRsets of a section that fit. Returns the records written and whether an
    /// RRset was left out; `stop_at_first` ends the section at the first one that does not fit.
    fn section(&mut self, records: &[Record], stop_at_first: bool) -> (u16, bool) {
        let mut written = 0u16;
        let mut left_out = false;
        for rrset in rrsets(records) {
            let (mark, names) = (self.buf.len(), self.names.len());
            for record in rrset {
                self.record(record);
            }
            if self.buf.len() > self.limit {
                self.buf.truncate(mark);
                self.names.truncate(names);
                left_out = true;
                if stop_at_first {
                    break;
                }
                continue;
            }
            written += rrset.len() as u16;
        }
        (written, left_out)
    }

    fn record(&mut self, record: &Record) {
        self.name(&record.name, true);
        self.u16(u16::from(record.record_type()));
        self.u16(u16::from(record.dns_class));
        self.buf.extend_from_slice(&record.ttl.to_be_bytes());
        let length_at = self.buf.len();
        self.u16(0);
        self.rdata(&record.data);
        let length = (self.buf.len() - length_at - 2) as u16;
        self.buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    }

    fn rdata(&mut self, data: &RData) {
        match data {
            RData::A(a) => self.buf.extend_from_slice(&a.0.octets()),
            RData::AAAA(aaaa) => self.buf.extend_from_slice(&aaaa.0.octets()),
            RData::CNAME(n) => self.name(&n.0, true),
            RData::PTR(n) => self.name(&n.0, true),
            RData::NS(n) => self.name(&n.0, true),
            RData::SRV(srv) => {
                self.u16(srv.priority);
                self.u16(srv.weight);
                self.u16(srv.port);
                // RFC 2782: "name compression is not to be used for this field".
                self.name(&srv.target, false);
            }
            RData::SOA(soa) => {
                self.name(&soa.mname, true);
                self.name(&soa.rname, true);
                for value in [soa.serial, soa.refresh as u32, soa.retry as u32, soa.expire as u32, soa.minimum] {
                    self.buf.extend_from_slice(&value.to_be_bytes());
                }
            }
            RData::TXT(txt) => {
                for string in txt.txt_data.iter() {
                    let string = &string[..string.len().min(255)];
                    self.buf.push(string.len() as u8);
                    self.buf.extend_from_slice(string);
                }
            }
            other => {
                if let Ok(bytes) = other.to_bytes() {
                    self.buf.extend_from_slice(&bytes);
                }
            }
        }
    }

    /// Writes a name, ending in a pointer to the longest suffix already written when
    /// `compress` allows it. Every label written becomes a suffix later names can point to.
    fn name(&mut self, name: &Name, compress: bool) {
        // A valid name has at most 127 labels; more are cut rather than panicking.
        let mut all: [&[u8]; 128] = [&[]; 128];
        let mut count = 0;
        for label in name.iter().take(all.len()) {
            all[count] = label;
            count += 1;
        }
        let labels = &all[..count];
        for start in 0..labels.len() {
            if compress && let Some(offset) = self.find(&labels[start..]) {
                self.labels(&labels[..start]);
                self.u16(0xC000 | offset);
                return;
            }
        }
        self.labels(labels);
        self.buf.push(0);
    }

    fn labels(&mut self, labels: &[&[u8]]) {
        for label in labels {
            self.remember(self.buf.len());
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
        }
    }

    fn find(&self, suffix: &[&[u8]]) -> Option<u16> {
        self.names.iter().copied().find(|&offset| self.matches_at(usize::from(offset), suffix))
    }

    /// Whether the name written at `offset` is exactly `suffix`, ignoring ASCII case.
    fn matches_at(&self, mut at: usize, suffix: &[&[u8]]) -> bool {
        let mut hops = 0;
        let mut labels = suffix.iter();
        loop {
            let Some(&len) = self.buf.get(at) else { return false };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = self.buf.get(at + 1) else { return false };
                hops += 1;
                if hops > MAX_NAMES {
                    return false;
                }
                at = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                continue;
            }
            let len = usize::from(len);
            match labels.next() {
                None => return len == 0,
                Some(label) => {
                    let Some(written) = self.buf.get(at + 1..at + 1 + len) else { return false };
                    if len == 0 || !written.eq_ignore_ascii_case(label) {
                        return false;
                    }
                    at += 1 + len;
                }
            }
        }
    }

    fn opt(&mut self, edns: &Edns, rcode_high: u8) {
        self.buf.push(0);
        self.u16(u16::from(RecordType::OPT));
        self.u16(edns.max_payload());
        let flags: u16 = if edns.flags().dnssec_ok { 0x8000 } else { 0 };
        self.buf.extend_from_slice(&[rcode_high, edns.version()]);
        self.u16(flags);
        self.u16(0);
    }

    fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }
}

/// Consecutive records of one name and type.
fn rrsets(records: &[Record]) -> impl Iterator<Item = &[Record]> {
    records.chunk_by(|a, b| a.record_type() == b.record_type() && a.name == b.name)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, SOA, SRV};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn question(qname: &str, qtype: RecordType) -> Vec<u8> {
        Query::query(name(qname), qtype).to_bytes().unwrap()
    }

    fn metadata() -> Metadata {
        let mut m = Metadata::new(4242, MessageType::Response, OpCode::Query);
        m.authoritative = true;
        m
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(name(owner), 5, RData::A(A(Ipv4Addr::new(10, 0, 0, last))))
    }

    /// A response to one question with these answers and additionals, no authority, no EDNS.
    fn reply<'a>(q: &'a [u8], answers: &'a [Record], additionals: &'a [Record]) -> Response<'a> {
        Response {
            metadata: metadata(),
            question: q,
            question_count: 1,
            answers,
            authorities: &[],
            additionals,
            edns: None,
        }
    }

    #[test]
    fn encoded_response_decodes_to_the_same_records() {
        let q = question("Web.Apps.svc.cluster.local.", RecordType::SRV);
        let answers = vec![Record::from_rdata(
            name("Web.Apps.svc.cluster.local."),
            5,
            RData::SRV(SRV::new(0, 100, 80, name("web.apps.svc.cluster.local."))),
        )];
        let soa = SOA::new(name("ns.dns.cluster.local."), name("hostmaster.cluster.local."), 7, 7200, 1800, 86400, 5);
        let authorities = vec![Record::from_rdata(name("cluster.local."), 5, RData::SOA(soa))];
        let additionals = vec![a("web.apps.svc.cluster.local.", 1)];
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        let response = Response {
            metadata: metadata(),
            question: &q,
            question_count: 1,
            answers: &answers,
            authorities: &authorities,
            additionals: &additionals,
            edns: Some(&edns),
        };
        let Encoded { bytes, truncated, .. } = encode(&response, Limit { size: 1232, tc_when_partial: true });
        assert!(!truncated);
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(message.metadata.id, 4242);
        assert!(message.metadata.authoritative);
        assert_eq!(message.queries[0].name().to_string(), "Web.Apps.svc.cluster.local.");
        assert_eq!(message.answers, answers);
        assert_eq!(message.authorities, authorities);
        assert_eq!(message.additionals, additionals);
        assert_eq!(message.edns.unwrap().max_payload(), 1232);
    }

    #[test]
    fn answer_owned_by_the_question_compresses_to_a_pointer() {
        let q = question("web.apps.svc.cluster.local.", RecordType::A);
        let answers = vec![a("web.apps.svc.cluster.local.", 1)];
        let response = reply(&q, &answers, &[]);
        let bytes = encode(&response, UDP_512).bytes;
        assert_eq!(bytes.len(), HEADER_LEN + q.len() + 2 + 10 + 4);
    }

    const UDP_512: Limit = Limit { size: 512, tc_when_partial: true };
    const TCP: Limit = Limit { size: u16::MAX as usize, tc_when_partial: false };

    #[test]
    fn an_answer_that_does_not_fit_udp_is_filled_with_whole_records_and_tc() {
        let q = question("big.apps.svc.cluster.local.", RecordType::A);
        let answers: Vec<Record> = (1..=200).map(|i| a("big.apps.svc.cluster.local.", i)).collect();
        let response = reply(&q, &answers, &[]);
        let encoded = encode(&response, UDP_512);
        assert!(encoded.truncated && encoded.bytes.len() <= 512);
        let message = Message::from_vec(&encoded.bytes).unwrap();
        assert!(message.metadata.truncation);
        assert_eq!(message.answers.len(), encoded.answers_sent);
        assert_eq!((encoded.answers_sent, encoded.answers_left_out), (29, 171), "as many as fit, in order");
        assert_eq!(message.answers[0], answers[0]);
        let encoded = encode(&response, TCP);
        assert!(!encoded.truncated);
        assert_eq!(Message::from_vec(&encoded.bytes).unwrap().answers.len(), 200);
    }

    #[test]
    fn over_tcp_an_answer_larger_than_a_message_is_partial_without_tc() {
        let q = question("huge.apps.svc.cluster.local.", RecordType::A);
        let answers: Vec<Record> = (0..5000u32)
            .map(|i| Record::from_rdata(name("huge.apps.svc.cluster.local."), 5, RData::A(A(i.into()))))
            .collect();
        let encoded = encode(&reply(&q, &answers, &[]), TCP);
        assert!(!encoded.truncated);
        let message = Message::from_vec(&encoded.bytes).unwrap();
        assert!(message.answers.len() > 4000 && message.answers.len() == encoded.answers_sent);
        assert_eq!(encoded.answers_sent + encoded.answers_left_out, 5000);
    }

    #[test]
    fn additional_rrsets_that_do_not_fit_are_left_out_without_tc() {
        let q = question("x.cluster.local.", RecordType::A);
        let answers = vec![a("x.cluster.local.", 1)];
        let additionals: Vec<Record> = (1..=60).map(|i| a(&format!("host-{i}.somewhere.example."), i)).collect();
        let response = reply(&q, &answers, &additionals);
        let Encoded { bytes, truncated, .. } = encode(&response, UDP_512);
        assert!(!truncated);
        assert!(bytes.len() <= 512);
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(message.answers.len(), 1);
        assert!(!message.additionals.is_empty() && message.additionals.len() < 60);
    }

    #[test]
    fn extended_rcode_goes_in_the_opt_record() {
        let mut m = metadata();
        m.response_code = ResponseCode::BADVERS;
        let edns = Edns::new();
        let response = Response {
            metadata: m,
            question: &[],
            question_count: 0,
            answers: &[],
            authorities: &[],
            additionals: &[],
            edns: Some(&edns),
        };
        let bytes = encode(&response, UDP_512).bytes;
        assert_eq!(bytes[3] & 0x0F, 0);
        assert_eq!(bytes[HEADER_LEN + 5], 1, "rcode 16 = high bits 1 in the OPT TTL");
    }
}
