//! The `conversations` section of the config: what a chat naming a stranded conversation does.
//!
//! Kept apart from `conversations.rs` (the carry-over itself, which works on a client) so `config` can hold
//! a `ConversationsConfig` without using the layer above it.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The most messages a carry-over copies (one `message/list` page).
pub const MAX_CARRY_OVER_MESSAGES: u32 = 50;

/// What a chat naming a stranded conversation does (`conversations.on_stranded`).
///
/// ```
/// let c = cozefallback::Config::from_json(r#"{"personal":{"type":"pat","token":"pat_a"},
///     "conversations":{"on_stranded":"error"}}"#).unwrap();
/// assert_eq!(c.conversations.on_stranded, cozefallback::OnStranded::Error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStranded {
    /// Copy the latest messages into a new conversation under the credential that reaches the bot (default).
    #[default]
    CarryOver,
    /// The same, copying no messages.
    New,
    /// Fail with [`ErrorKind::ConversationStranded`](crate::ErrorKind::ConversationStranded); nothing is created.
    Error,
}

impl OnStranded {
    /// The config value: `carry_over`, `new` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnStranded::CarryOver => "carry_over",
            OnStranded::New => "new",
            OnStranded::Error => "error",
        }
    }
}

/// The `conversations` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationsConfig {
    /// What a stranded chat does.
    #[serde(default)]
    pub on_stranded: OnStranded,
    /// How many of the latest messages a carry-over copies (default 20, at most 50).
    #[serde(default = "default_carry_over_messages")]
    pub carry_over_messages: u32,
}

fn default_carry_over_messages() -> u32 {
    20
}

impl Default for ConversationsConfig {
    fn default() -> Self {
        ConversationsConfig {
            on_stranded: OnStranded::default(),
            carry_over_messages: default_carry_over_messages(),
        }
    }
}

impl ConversationsConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.carry_over_messages > MAX_CARRY_OVER_MESSAGES {
            return Err(Error::config(
                "conversations.carry_over_messages",
                format!(
                    "must be at most {MAX_CARRY_OVER_MESSAGES} (one message/list page), got {}",
                    self.carry_over_messages
                ),
            ));
        }
        Ok(())
    }
}
