//! Signaling errors, worded exactly as Collider words them: clients show these strings.

/// Why a signaling operation failed. `Display` gives Collider's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalingError {
    /// A third client id tried to enter a room that has two.
    #[error("Max room capacity reached")]
    RoomFull,
    /// The sender's queue already holds the maximum number of messages.
    #[error("Too many messages queued for the client")]
    TooManyQueued,
    /// The client id already has a live socket.
    #[error("Duplicated registration")]
    DuplicatedRegistration,
    /// This socket already registered once.
    #[error("Duplicated register request")]
    DuplicatedRegisterRequest,
    /// `register` lacked a room or client id.
    #[error("Invalid register request: missing 'clientid' or 'roomid'")]
    InvalidRegister,
    /// `register` carried an id outside `[A-Za-z0-9_-]{1,max}`.
    #[error("Invalid register request: {0}")]
    InvalidId(String),
    /// `send` came before `register`.
    #[error("Client not registered")]
    NotRegistered,
    /// `send` had no message.
    #[error("Invalid send request: missing 'msg'")]
    MissingMsg,
    /// The frame's `cmd` was missing or unknown.
    #[error("Invalid message: unexpected 'cmd'")]
    UnexpectedCmd,
    /// The frame was not a JSON object of the expected shape.
    #[error("websocket.JSON.Receive error: {0}")]
    Malformed(String),
}
