//! MS-TDS 7.4 framing, message decoding and token encoding (server side).

use crate::types::{Column, ColumnType, Request, ResultSet, Value};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) const PKT_BATCH: u8 = 0x01;
pub(crate) const PKT_RPC: u8 = 0x03;
pub(crate) const PKT_REPLY: u8 = 0x04;
pub(crate) const PKT_ATTENTION: u8 = 0x06;
pub(crate) const PKT_TRANSACTION_MANAGER: u8 = 0x0E;
pub(crate) const PKT_LOGIN7: u8 = 0x10;
pub(crate) const PKT_PRELOGIN: u8 = 0x12;

const HEADER_LEN: usize = 8;
const STATUS_EOM: u8 = 0x01;
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
const SPID: u16 = 0x0034;

pub(crate) const DONE_FINAL: u16 = 0x00;
pub(crate) const DONE_MORE: u16 = 0x01;
pub(crate) const DONE_ERROR: u16 = 0x02;
pub(crate) const DONE_COUNT: u16 = 0x10;
pub(crate) const DONE_ATTN: u16 = 0x20;

const TOKEN_RETURNSTATUS: u8 = 0x79;
const TOKEN_COLMETADATA: u8 = 0x81;
const TOKEN_ERROR: u8 = 0xAA;
const TOKEN_INFO: u8 = 0xAB;
const TOKEN_LOGINACK: u8 = 0xAD;
const TOKEN_ROW: u8 = 0xD1;
const TOKEN_ENVCHANGE: u8 = 0xE3;
const TOKEN_SSPI: u8 = 0xED;
pub(crate) const TOKEN_DONE: u8 = 0xFD;
pub(crate) const TOKEN_DONEPROC: u8 = 0xFE;
pub(crate) const TOKEN_DONEINPROC: u8 = 0xFF;

const TYPE_NULL: u8 = 0x1F;
const TYPE_INT1: u8 = 0x30;
const TYPE_BIT: u8 = 0x32;
const TYPE_INT2: u8 = 0x34;
const TYPE_INT4: u8 = 0x38;
const TYPE_INT8: u8 = 0x7F;
const TYPE_INTN: u8 = 0x26;
const TYPE_BITN: u8 = 0x68;
const TYPE_DATETIME2N: u8 = 0x2A;
const TYPE_NVARCHAR: u8 = 0xE7;
const TYPE_NCHAR: u8 = 0xEF;

/// SQL_Latin1_General_CP1_CI_AS.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Name the server reports in ERROR/INFO tokens and LOGINACK.
pub(crate) const SERVER_NAME: &str = "TESTKIT";

/// One complete TDS message (all packets up to end-of-message).
pub(crate) struct Message {
    pub ty: u8,
    pub payload: Vec<u8>,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one message; `Ok(None)` on a clean end of stream between messages.
pub(crate) async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Option<Message>> {
    let mut payload = Vec::new();
    let mut ty = None;
    loop {
        let mut header = [0u8; HEADER_LEN];
        match s.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && ty.is_none() => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < HEADER_LEN {
            return Err(invalid(format!(
                "packet length {len} is below the header size"
            )));
        }
        if !matches!(header[0], 0x01..=0x03 | 0x06 | 0x07 | 0x0E | 0x10..=0x12) {
            // Not TDS, e.g. a TLS ClientHello sent to a plaintext server: give up at once.
            return Err(invalid(format!(
                "not a TDS packet type: 0x{:02X}",
                header[0]
            )));
        }
        ty.get_or_insert(header[0]);
        let start = payload.len();
        if start + len > MAX_MESSAGE {
            return Err(invalid("message too large"));
        }
        payload.resize(start + len - HEADER_LEN, 0);
        s.read_exact(&mut payload[start..]).await?;
        if header[1] & STATUS_EOM != 0 {
            break;
        }
    }
    Ok(ty.map(|ty| Message { ty, payload }))
}

/// Writes `payload` as one message of packets no larger than `packet_size`.
/// With `end_of_message == false` the last packet lacks the EOM flag.
pub(crate) async fn write_message<S: AsyncWrite + Unpin>(
    s: &mut S,
    ty: u8,
    payload: &[u8],
    packet_size: usize,
    end_of_message: bool,
) -> io::Result<()> {
    let chunk = packet_size.clamp(512, 32767) - HEADER_LEN;
    let mut out = Vec::with_capacity(payload.len() + (payload.len() / chunk + 1) * HEADER_LEN);
    let mut chunks = payload.chunks(chunk).peekable();
    let mut id: u8 = 1;
    if chunks.peek().is_none() {
        push_header(&mut out, ty, end_of_message, 0, id);
    }
    while let Some(part) = chunks.next() {
        let last = chunks.peek().is_none();
        push_header(&mut out, ty, last && end_of_message, part.len(), id);
        out.extend_from_slice(part);
        id = id.wrapping_add(1);
    }
    s.write_all(&out).await?;
    s.flush().await
}

fn push_header(out: &mut Vec<u8>, ty: u8, eom: bool, len: usize, id: u8) {
    out.push(ty);
    out.push(if eom { STATUS_EOM } else { 0 });
    // `len` is at most 32767 - 8 because of the clamp in `write_message`.
    out.extend_from_slice(&((len + HEADER_LEN) as u16).to_be_bytes());
    out.extend_from_slice(&SPID.to_be_bytes());
    out.push(id);
    out.push(0);
}

/// A little-endian cursor over a byte slice with bounds-checked reads.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(invalid("message truncated"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> io::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn uint(&mut self, n: usize) -> io::Result<u64> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)))
    }

    fn utf16(&mut self, chars: usize) -> io::Result<String> {
        utf16(self.take(chars * 2)?)
    }
}

fn utf16(bytes: &[u8]) -> io::Result<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| invalid("invalid UTF-16"))
}

/// The ENCRYPTION option of a client PRELOGIN (0 off, 1 on, 2 not supported, 3 required).
pub(crate) fn prelogin_encryption(payload: &[u8]) -> Option<u8> {
    let mut i = 0;
    while i + 5 <= payload.len() && payload[i] != 0xFF {
        let token = payload[i];
        let offset = usize::from(u16::from_be_bytes([payload[i + 1], payload[i + 2]]));
        if token == 0x01 {
            return payload.get(offset).copied();
        }
        i += 5;
    }
    None
}

/// The server's PRELOGIN answer with the given ENCRYPTION value.
pub(crate) fn prelogin_response(encryption: u8) -> Vec<u8> {
    // (token, data)
    let options: [(u8, Vec<u8>); 5] = [
        (0x00, vec![16, 0, 0x07, 0xD0, 0, 0]), // VERSION 16.0.2000, sub-build 0
        (0x01, vec![encryption]),              // ENCRYPTION
        (0x02, vec![0]),                       // INSTOPT: instance accepted
        (0x03, vec![]),                        // THREADID: empty from a server
        (0x04, vec![0]),                       // MARS off
    ];
    let mut offset = options.len() * 5 + 1;
    let mut out = Vec::new();
    for (token, data) in &options {
        out.push(*token);
        out.extend_from_slice(&(offset as u16).to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        offset += data.len();
    }
    out.push(0xFF);
    for (_, data) in &options {
        out.extend_from_slice(data);
    }
    out
}

/// The parts of a LOGIN7 message the server uses.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub user: String,
    /// A SQL login's password, its obfuscation undone; empty for a Windows login.
    pub password: String,
    pub database: String,
    pub packet_size: u32,
    /// TypeFlags bit 5 (fReadOnlyIntent): the client asked for a readable secondary.
    pub read_only_intent: bool,
    /// SSPI data (ibSSPI/cbSSPI): the first NTLM or Kerberos token of a Windows login.
    pub sspi: Vec<u8>,
}

/// Offset of the TypeFlags byte in LOGIN7, and its read-only intent bit.
const LOGIN7_TYPE_FLAGS: usize = 26;
const READ_ONLY_INTENT: u8 = 1 << 5;
/// Offset of ibSSPI (then cbSSPI) in LOGIN7: after eight offset/length pairs and ClientID.
const LOGIN7_SSPI: usize = 36 + 9 * 4 + 6;

/// Decodes a LOGIN7 message (MS-TDS 2.2.6.4).
pub(crate) fn parse_login7(payload: &[u8]) -> io::Result<Login> {
    let mut r = Reader::new(payload);
    let _length = r.u32()?;
    let _tds_version = r.u32()?;
    let packet_size = r.u32()?;
    let field = |index: usize| -> io::Result<String> {
        let base = 36 + index * 4;
        let mut fr = Reader::new(payload);
        fr.take(base)?;
        let offset = usize::from(fr.u16()?);
        let chars = usize::from(fr.u16()?);
        let mut vr = Reader::new(payload);
        vr.take(offset)?;
        vr.utf16(chars)
    };
    Ok(Login {
        user: field(1)?,
        password: login7_password(payload)?,
        database: field(8)?,
        packet_size,
        read_only_intent: payload
            .get(LOGIN7_TYPE_FLAGS)
            .is_some_and(|flags| flags & READ_ONLY_INTENT != 0),
        sspi: {
            let mut fr = Reader::new(payload);
            fr.take(LOGIN7_SSPI)?;
            let offset = usize::from(fr.u16()?);
            let len = usize::from(fr.u16()?);
            let mut vr = Reader::new(payload);
            vr.take(offset)?;
            vr.take(len)?.to_vec()
        },
    })
}

/// LOGIN7's password (ibPassword/cchPassword, the third field): each byte's nibbles were
/// swapped and the result XORed with 0xA5 (MS-TDS 2.2.6.4).
fn login7_password(payload: &[u8]) -> io::Result<String> {
    let mut fr = Reader::new(payload);
    fr.take(36 + 2 * 4)?;
    let offset = usize::from(fr.u16()?);
    let chars = usize::from(fr.u16()?);
    let mut vr = Reader::new(payload);
    vr.take(offset)?;
    let plain: Vec<u8> = vr
        .take(chars * 2)?
        .iter()
        .map(|byte| (byte ^ 0xA5).rotate_left(4))
        .collect();
    utf16(&plain)
}

/// Skips the ALL_HEADERS block at the start of a batch or RPC payload.
fn skip_all_headers(r: &mut Reader<'_>) -> io::Result<()> {
    if r.remaining() >= 4 {
        let total = r.buf[r.pos..r.pos + 4].to_vec();
        let total = u32::from_le_bytes([total[0], total[1], total[2], total[3]]) as usize;
        if total >= 4 && total <= r.remaining() {
            r.take(total)?;
        }
    }
    Ok(())
}

/// Decodes a SQL batch message.
pub(crate) fn parse_batch(payload: &[u8]) -> io::Result<Request> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r)?;
    let rest = r.take(r.remaining())?;
    Ok(Request::Batch { sql: utf16(rest)? })
}

fn proc_name(id: u16) -> String {
    match id {
        1 => "sp_cursor".into(),
        2 => "sp_cursoropen".into(),
        7 => "sp_cursorfetch".into(),
        9 => "sp_cursorclose".into(),
        10 => "sp_executesql".into(),
        11 => "sp_prepare".into(),
        12 => "sp_execute".into(),
        13 => "sp_prepexec".into(),
        15 => "sp_unprepare".into(),
        other => format!("sp_procid_{other}"),
    }
}

/// Decodes an RPC request message (single RPC; tiberius never batches them).
pub(crate) fn parse_rpc(payload: &[u8]) -> io::Result<Request> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r)?;
    let name_len = r.u16()?;
    let procedure = if name_len == 0xFFFF {
        proc_name(r.u16()?)
    } else {
        r.utf16(usize::from(name_len))?
    };
    let _options = r.u16()?;
    let mut values = Vec::new();
    while r.remaining() > 0 {
        let first = r.buf[r.pos];
        if first == 0x80 || first == 0xFF || first == 0xFE {
            // Batch separator: further RPCs in the same message are ignored.
            break;
        }
        let name_chars = usize::from(r.u8()?);
        let _name = r.utf16(name_chars)?;
        let _status = r.u8()?;
        values.push(read_typed_value(&mut r)?);
    }
    if procedure.eq_ignore_ascii_case("sp_executesql") {
        let mut it = values.into_iter();
        let sql = match it.next() {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let _declarations = it.next();
        Ok(Request::Rpc {
            procedure,
            sql,
            params: it.collect(),
        })
    } else {
        Ok(Request::Rpc {
            procedure,
            sql: None,
            params: values,
        })
    }
}

/// Reads TYPE_INFO followed by the value (an RPC parameter).
fn read_typed_value(r: &mut Reader<'_>) -> io::Result<Value> {
    let ty = r.u8()?;
    match ty {
        TYPE_NULL => Ok(Value::Null),
        TYPE_INT1 => Ok(Value::Int(r.uint(1)? as i64)),
        TYPE_INT2 => Ok(Value::Int(i64::from(r.u16()? as i16))),
        TYPE_INT4 => Ok(Value::Int(i64::from(r.u32()? as i32))),
        TYPE_INT8 => Ok(Value::Int(r.u64()? as i64)),
        TYPE_BIT => Ok(Value::Bit(r.u8()? != 0)),
        TYPE_INTN => {
            let _max = r.u8()?;
            let len = r.u8()?;
            Ok(match len {
                0 => Value::Null,
                1 => Value::Int(i64::from(r.u8()?)),
                2 => Value::Int(i64::from(r.u16()? as i16)),
                4 => Value::Int(i64::from(r.u32()? as i32)),
                8 => Value::Int(r.u64()? as i64),
                other => return Err(invalid(format!("INTN value of length {other}"))),
            })
        }
        TYPE_BITN => {
            let _max = r.u8()?;
            let len = r.u8()?;
            Ok(match len {
                0 => Value::Null,
                _ => Value::Bit(r.take(usize::from(len))?[0] != 0),
            })
        }
        TYPE_NVARCHAR | TYPE_NCHAR => {
            let max = r.u16()?;
            r.take(COLLATION.len())?;
            if max == 0xFFFF {
                read_plp_string(r)
            } else {
                let len = r.u16()?;
                if len == 0xFFFF {
                    Ok(Value::Null)
                } else {
                    Ok(Value::String(utf16(r.take(usize::from(len))?)?))
                }
            }
        }
        TYPE_DATETIME2N => {
            let scale = r.u8()?;
            let len = usize::from(r.u8()?);
            if len == 0 {
                return Ok(Value::Null);
            }
            if len < 4 {
                return Err(invalid("datetime2 value too short"));
            }
            let increments = r.uint(len - 3)?;
            let days = r.uint(3)?;
            Ok(Value::DateTime(datetime2_from_wire(
                days, increments, scale,
            )?))
        }
        other => Err(invalid(format!(
            "testkit cannot decode RPC parameter type 0x{other:02X}"
        ))),
    }
}

fn read_plp_string(r: &mut Reader<'_>) -> io::Result<Value> {
    let total = r.u64()?;
    if total == u64::MAX {
        return Ok(Value::Null);
    }
    let mut bytes = Vec::new();
    loop {
        let chunk = r.u32()? as usize;
        if chunk == 0 {
            break;
        }
        bytes.extend_from_slice(r.take(chunk)?);
    }
    Ok(Value::String(utf16(&bytes)?))
}

fn datetime2_from_wire(days: u64, increments: u64, scale: u8) -> io::Result<NaiveDateTime> {
    let epoch = NaiveDate::from_ymd_opt(1, 1, 1).ok_or_else(|| invalid("date epoch"))?;
    let date = epoch
        .checked_add_days(chrono::Days::new(days))
        .ok_or_else(|| invalid("datetime2 date out of range"))?;
    let scale = u32::from(scale.min(7));
    let per_second = 10u64.pow(scale);
    let secs = increments / per_second;
    let nanos = (increments % per_second) * 10u64.pow(9 - scale);
    let time = NaiveTime::from_num_seconds_from_midnight_opt(secs as u32, nanos as u32)
        .ok_or_else(|| invalid("datetime2 time out of range"))?;
    Ok(NaiveDateTime::new(date, time))
}

fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

// ----- token encoders --------------------------------------------------------------------------

fn put_utf16(out: &mut Vec<u8>, s: &str) {
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// B_VARCHAR: 1-byte character count, truncated to 255 characters.
fn put_b_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(255).collect();
    out.push(units.len() as u8);
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// US_VARCHAR: 2-byte character count.
fn put_us_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(65535).collect();
    out.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// Appends a token with a 2-byte length prefix.
fn put_length_prefixed(out: &mut Vec<u8>, token: u8, body: &[u8]) {
    out.push(token);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
}

/// LOGINACK announcing TDS 7.4.
pub(crate) fn login_ack(out: &mut Vec<u8>) {
    let mut body = vec![0x01]; // interface: SQL_TSQL
    body.extend_from_slice(&0x7400_0004u32.to_be_bytes());
    put_b_varchar(&mut body, "Microsoft SQL Server");
    body.extend_from_slice(&[16, 0, 0x07, 0xD0]);
    put_length_prefixed(out, TOKEN_LOGINACK, &body);
}

/// ENVCHANGE of a B_VARCHAR-valued kind (1 = database, 4 = packet size).
pub(crate) fn env_change(out: &mut Vec<u8>, kind: u8, new: &str, old: &str) {
    let mut body = vec![kind];
    put_b_varchar(&mut body, new);
    put_b_varchar(&mut body, old);
    put_length_prefixed(out, TOKEN_ENVCHANGE, &body);
}

fn error_body(number: i32, state: u8, class: u8, message: &str, procedure: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&number.to_le_bytes());
    body.push(state);
    body.push(class);
    put_us_varchar(&mut body, message);
    put_b_varchar(&mut body, SERVER_NAME);
    put_b_varchar(&mut body, procedure);
    body.extend_from_slice(&1u32.to_le_bytes());
    body
}

/// SSPI token: an NTLM CHALLENGE or a Kerberos AP-REP for the client.
pub(crate) fn sspi(out: &mut Vec<u8>, token: &[u8]) {
    out.push(TOKEN_SSPI);
    out.extend_from_slice(&(token.len() as u16).to_le_bytes());
    out.extend_from_slice(token);
}

/// ENVCHANGE type 20 (Routing): connect to `host:port` instead (MS-TDS 2.2.7.9).
pub(crate) fn routing(out: &mut Vec<u8>, host: &str, port: u16) {
    let host: Vec<u16> = host.encode_utf16().collect();
    let mut value = vec![0u8]; // protocol: TCP
    value.extend_from_slice(&port.to_le_bytes());
    value.extend_from_slice(&(host.len() as u16).to_le_bytes());
    host.iter()
        .for_each(|unit| value.extend_from_slice(&unit.to_le_bytes()));
    let mut body = vec![20u8];
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(&value);
    body.extend_from_slice(&0u16.to_le_bytes()); // old value: none
    out.push(TOKEN_ENVCHANGE);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
}

/// ERROR token.
pub(crate) fn error(out: &mut Vec<u8>, number: i32, state: u8, class: u8, message: &str) {
    put_length_prefixed(
        out,
        TOKEN_ERROR,
        &error_body(number, state, class, message, ""),
    );
}

/// INFO token (class 0).
pub(crate) fn info(out: &mut Vec<u8>, number: i32, message: &str) {
    put_length_prefixed(out, TOKEN_INFO, &error_body(number, 1, 0, message, ""));
}

/// DONE / DONEPROC / DONEINPROC token.
pub(crate) fn done(out: &mut Vec<u8>, token: u8, status: u16, rows: u64) {
    out.push(token);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0xC1u16.to_le_bytes()); // CurCmd: SELECT
    out.extend_from_slice(&rows.to_le_bytes());
}

/// RETURNSTATUS token.
pub(crate) fn return_status(out: &mut Vec<u8>, status: i32) {
    out.push(TOKEN_RETURNSTATUS);
    out.extend_from_slice(&status.to_le_bytes());
}

/// COLMETADATA token.
pub(crate) fn col_metadata(out: &mut Vec<u8>, columns: &[Column]) -> Result<(), String> {
    out.push(TOKEN_COLMETADATA);
    out.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for column in columns {
        out.extend_from_slice(&0u32.to_le_bytes()); // UserType
        let flags: u16 = if column.nullable { 0x0001 } else { 0x0000 };
        out.extend_from_slice(&flags.to_le_bytes());
        match column.ty {
            ColumnType::Int => out.extend_from_slice(&[TYPE_INTN, 4]),
            ColumnType::BigInt => out.extend_from_slice(&[TYPE_INTN, 8]),
            ColumnType::Bit => out.extend_from_slice(&[TYPE_BITN, 1]),
            ColumnType::NVarChar(n) => {
                if n == 0 || n > 4000 {
                    return Err(format!("nvarchar({n}) of column {}", column.name));
                }
                out.push(TYPE_NVARCHAR);
                out.extend_from_slice(&(n * 2).to_le_bytes());
                out.extend_from_slice(&COLLATION);
            }
            ColumnType::NVarCharMax => {
                out.push(TYPE_NVARCHAR);
                out.extend_from_slice(&0xFFFFu16.to_le_bytes());
                out.extend_from_slice(&COLLATION);
            }
            ColumnType::DateTime2(scale) => {
                if scale > 7 {
                    return Err(format!("datetime2({scale}) of column {}", column.name));
                }
                out.extend_from_slice(&[TYPE_DATETIME2N, scale]);
            }
        }
        put_b_varchar(out, &column.name);
    }
    Ok(())
}

/// The start of a ROW token whose only column is an `nvarchar(max)` of unknown length: PLP
/// chunks ([`plp_chunk`]) follow, and the terminator never does.
pub(crate) fn row_of_unending_plp(out: &mut Vec<u8>) {
    out.push(TOKEN_ROW);
    out.extend_from_slice(&0xFFFF_FFFF_FFFF_FFFEu64.to_le_bytes());
}

/// One PLP chunk of `units` UTF-16 code units of `A`.
pub(crate) fn plp_chunk(out: &mut Vec<u8>, units: u32) {
    out.extend_from_slice(&(units * 2).to_le_bytes());
    for _ in 0..units {
        out.extend_from_slice(&[b'A', 0]);
    }
}

/// ROW token for `columns`.
pub(crate) fn row(out: &mut Vec<u8>, columns: &[Column], values: &[Value]) -> Result<(), String> {
    if columns.len() != values.len() {
        return Err(format!(
            "row has {} values for {} columns",
            values.len(),
            columns.len()
        ));
    }
    out.push(TOKEN_ROW);
    for (column, value) in columns.iter().zip(values) {
        let mismatch = || format!("value {value:?} does not fit column {column:?}");
        if matches!(value, Value::Null) && !column.nullable {
            return Err(format!("NULL in NOT NULL column {}", column.name));
        }
        match (column.ty, value) {
            (ColumnType::Int | ColumnType::BigInt | ColumnType::Bit, Value::Null) => out.push(0),
            (ColumnType::Int, Value::Int(v)) => {
                let v = i32::try_from(*v).map_err(|_| mismatch())?;
                out.push(4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            (ColumnType::BigInt, Value::Int(v)) => {
                out.push(8);
                out.extend_from_slice(&v.to_le_bytes());
            }
            (ColumnType::Bit, Value::Bit(v)) => out.extend_from_slice(&[1, u8::from(*v)]),
            (ColumnType::NVarChar(_), Value::Null) => {
                out.extend_from_slice(&0xFFFFu16.to_le_bytes())
            }
            (ColumnType::NVarChar(n), Value::String(s)) => {
                let units = s.encode_utf16().count();
                if units > usize::from(n) {
                    return Err(mismatch());
                }
                out.extend_from_slice(&((units * 2) as u16).to_le_bytes());
                put_utf16(out, s);
            }
            (ColumnType::NVarCharMax, Value::Null) => {
                out.extend_from_slice(&u64::MAX.to_le_bytes())
            }
            (ColumnType::NVarCharMax, Value::String(s)) => {
                let mut data = Vec::with_capacity(s.len() * 2);
                put_utf16(&mut data, s);
                out.extend_from_slice(&(data.len() as u64).to_le_bytes());
                for chunk in data.chunks(8000) {
                    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
                    out.extend_from_slice(chunk);
                }
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            (ColumnType::DateTime2(_), Value::Null) => out.push(0),
            (ColumnType::DateTime2(scale), Value::DateTime(dt)) => {
                put_datetime2(out, dt, scale).map_err(|_| mismatch())?;
            }
            _ => return Err(mismatch()),
        }
    }
    Ok(())
}

fn put_datetime2(out: &mut Vec<u8>, dt: &NaiveDateTime, scale: u8) -> Result<(), ()> {
    let tlen = time_len(scale);
    let scale = u32::from(scale);
    let time = dt.time();
    let increments = u64::from(time.num_seconds_from_midnight()) * 10u64.pow(scale)
        + u64::from(time.nanosecond().min(999_999_999)) / 10u64.pow(9 - scale);
    let days = chrono::Datelike::num_days_from_ce(&dt.date()) - 1;
    let days = u32::try_from(days).map_err(|_| ())?;
    out.push((tlen + 3) as u8);
    out.extend_from_slice(&increments.to_le_bytes()[..tlen]);
    out.extend_from_slice(&days.to_le_bytes()[..3]);
    Ok(())
}

/// Encodes one result set (COLMETADATA + ROWs), without the closing DONE.
pub(crate) fn result_set(out: &mut Vec<u8>, set: &ResultSet) -> Result<(), String> {
    col_metadata(out, &set.columns)?;
    for values in &set.rows {
        row(out, &set.columns, values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime2_round_trips() {
        let dt = NaiveDate::from_ymd_opt(2015, 1, 18)
            .and_then(|d| d.and_hms_milli_opt(10, 30, 13, 250))
            .expect("valid date");
        let mut out = Vec::new();
        put_datetime2(&mut out, &dt, 3).expect("encodable");
        assert_eq!(out[0], 7);
        let mut r = Reader::new(&out[1..]);
        let increments = r.uint(4).expect("time");
        let days = r.uint(3).expect("date");
        assert_eq!(
            datetime2_from_wire(days, increments, 3).expect("decodable"),
            dt
        );
    }

    #[test]
    fn prelogin_response_has_encryption() {
        let p = prelogin_response(2);
        assert_eq!(prelogin_encryption(&p), Some(2));
    }
}
