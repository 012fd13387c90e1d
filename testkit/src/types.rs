//! Requests the server receives, responses a [`Handler`] gives, and the values in both.

use chrono::NaiveDateTime;

/// A value of a request parameter or of a result cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL` (a typed NULL parameter or a NULL cell).
    Null,
    /// Any integer (`tinyint`, `smallint`, `int`, `bigint`).
    Int(i64),
    /// A `bit`.
    Bit(bool),
    /// An `nvarchar`/`nchar` string (including `nvarchar(max)`).
    String(String),
    /// A `datetime2` (naive, the server does not know time zones).
    DateTime(NaiveDateTime),
}

impl Value {
    /// The integer inside, if this is an [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The string inside, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(v) => Some(v),
            _ => None,
        }
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bit(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Self {
        Value::DateTime(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A request the server received after login: a SQL batch or an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A SQL batch (tiberius `simple_query` / `execute` without parameters via batch).
    Batch {
        /// The batch text.
        sql: String,
    },
    /// An RPC request; tiberius `query`/`execute` send `sp_executesql` (ProcID 10).
    Rpc {
        /// Procedure name (`sp_executesql` for ProcID 10, otherwise the name sent).
        procedure: String,
        /// For `sp_executesql`: the statement text (first parameter).
        sql: Option<String>,
        /// For `sp_executesql`: values of `@P1..`; otherwise every parameter value.
        params: Vec<Value>,
    },
}

impl Request {
    /// The SQL text of a batch, or the statement of an `sp_executesql` RPC.
    pub fn sql(&self) -> Option<&str> {
        match self {
            Request::Batch { sql } => Some(sql),
            Request::Rpc { sql, .. } => sql.as_deref(),
        }
    }

    /// The parameter values (empty for a batch).
    pub fn params(&self) -> &[Value] {
        match self {
            Request::Batch { .. } => &[],
            Request::Rpc { params, .. } => params,
        }
    }
}

/// The SQL type of a result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `int` (sent as INTN(4)).
    Int,
    /// `bigint` (sent as INTN(8)).
    BigInt,
    /// `bit` (sent as BITN).
    Bit,
    /// `nvarchar(n)`, n in characters (1..=4000).
    NVarChar(u16),
    /// `nvarchar(max)` (sent as PLP).
    NVarCharMax,
    /// `datetime2(scale)`, scale 0..=7.
    DateTime2(u8),
}

/// A result column: name, type and nullability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name (may be empty, like `SELECT 1`).
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
    /// Whether the column is declared NULL-able.
    pub nullable: bool,
}

impl Column {
    /// A NOT NULL column.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Self {
            name: name.into(),
            ty,
            nullable: false,
        }
    }

    /// A NULL-able column.
    pub fn nullable(name: impl Into<String>, ty: ColumnType) -> Self {
        Self {
            name: name.into(),
            ty,
            nullable: true,
        }
    }
}

/// One result set: column metadata and rows (each row has one value per column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSet {
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, each with `columns.len()` values.
    pub rows: Vec<Vec<Value>>,
}

impl ResultSet {
    /// A result set from columns and rows.
    pub fn new(columns: Vec<Column>, rows: Vec<Vec<Value>>) -> Self {
        Self { columns, rows }
    }
}

/// What the server answers to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Zero or more result sets (each ends with DONE/DONEINPROC, MORE set between them).
    Results(Vec<ResultSet>),
    /// An ERROR token (class 16, state 1, line 1) followed by DONE/DONEPROC with the error flag.
    Error {
        /// SQL Server error number, e.g. 208.
        number: i32,
        /// Error message.
        message: String,
    },
    /// Just a final DONE (no rows), like a successful statement without results.
    Done,
}

impl Response {
    /// A response with exactly one result set.
    pub fn single(set: ResultSet) -> Self {
        Response::Results(vec![set])
    }

    /// An error response.
    pub fn error(number: i32, message: impl Into<String>) -> Self {
        Response::Error {
            number,
            message: message.into(),
        }
    }
}

/// Answers requests; called synchronously on the connection's task.
pub trait Handler: Send + Sync + 'static {
    /// Produce the response to one batch or RPC.
    fn handle(&self, request: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: &Request) -> Response {
        self(request)
    }
}

/// A failure mode the server simulates; set with `TdsTestServer::set_fault`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// Accept TCP connections and close them at once.
    RefuseConnections,
    /// Answer PRELOGIN, read LOGIN7, then close without LOGINACK.
    CloseDuringLogin,
    /// Answer PRELOGIN offering encryption, then close when the client starts its TLS
    /// handshake, as a server whose TLS the client cannot speak does (TLS 1.0 only).
    EndTlsHandshake,
    /// Answer PRELOGIN offering encryption, then answer the client's TLS handshake with a
    /// fatal `protocol_version` alert, as a server refusing the client's TLS versions does.
    RefuseTlsHandshake,
    /// Answer LOGIN7 with ERROR 18456 "Login failed for user '…'." + DONE(error), then close.
    LoginFailed,
    /// Answer LOGIN7 with this ERROR token + DONE(error), then close: e.g. 4060 (cannot open
    /// the database of the login) or 911 (the database does not exist).
    LoginError {
        /// SQL Server error number.
        number: i32,
        /// Error message.
        message: String,
    },
    /// Answer a request with COLMETADATA and part of a row, then close.
    CloseMidResult,
    /// Answer a request with COLMETADATA and part of a row in a final packet (end of message),
    /// and keep the connection open: the answer ends inside a row.
    EndMidRow,
    /// Answer a request with the handler's first result set's COLMETADATA and its first row
    /// (`SELECT 1`'s when it has none) repeated without end, until the client goes away.
    EndlessRows,
    /// Answer a request with one `nvarchar(max)` column whose value never ends, until the client
    /// goes away.
    EndlessValue,
    /// Read requests and never answer them (until the fault changes or the server stops).
    Stall,
    /// Answer every batch and RPC with this ERROR token.
    Error {
        /// SQL Server error number, e.g. 208.
        number: i32,
        /// Error message.
        message: String,
    },
}

/// Counters of what the server has seen since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// TCP connections accepted (including refused ones).
    pub connections_accepted: u64,
    /// Connections currently being served.
    pub connections_open: u64,
    /// Successful logins (LOGINACK sent).
    pub logins_ok: u64,
    /// LOGIN7 messages received, whatever the answer (refused logins included).
    pub login_attempts: u64,
    /// Batches and RPCs received.
    pub requests: u64,
    /// Successful logins whose LOGIN7 declared `ApplicationIntent=ReadOnly`.
    pub read_only_logins: u64,
}
