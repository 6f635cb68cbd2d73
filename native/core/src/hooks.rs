//! Test hooks: an attacker's raw frames, replays and withheld ACKs. Built
//! only with the `test-hooks` feature (and for the crate's own tests); a
//! node also needs `test_hooks: true` in its config.

use crate::codec::Frame;
use crate::endpoint::Endpoint;
use crate::error::{EndpointError, HookError};

impl Endpoint {
    /// Test hook: re-sends the last acknowledged frame of `kind`.
    pub(crate) fn check_test_hooks(&self) -> Result<(), EndpointError> {
        if !self.cfg.test_hooks {
            return Err(HookError::Disabled.into());
        }
        Ok(())
    }

    /// Test hook: an attacker's raw frame, `repeat` times; `channel_kind`
    /// names one of our channels whose id replaces `f.channel`.
    pub fn inject_raw(
        &mut self,
        key: u64,
        mut f: Frame,
        channel_kind: Option<&str>,
        repeat: usize,
    ) -> Result<(), EndpointError> {
        self.check_test_hooks()?;
        let s = self.session_mut(key)?;
        if let Some(kind) = channel_kind {
            f.channel = s
                .engine
                .channel_by_kind(kind)
                .ok_or_else(|| HookError::NoChannel(kind.to_string()))?;
        }
        s.engine.inject_raw(f, repeat);
        self.mark_session_dirty(key);
        Ok(())
    }

    /// Test hook: stop (or resume) writing ACKs on session `key`.
    pub fn inject_no_acks(&mut self, key: u64, on: bool) -> Result<(), EndpointError> {
        self.check_test_hooks()?;
        self.session_mut(key)?.engine.test_no_acks = on;
        Ok(())
    }

    pub fn inject_replay(&mut self, key: u64, kind: &str) -> Result<(), EndpointError> {
        self.check_test_hooks()?;
        let s = self.session_mut(key)?;
        if !s.engine.inject_replay(kind) {
            return Err(HookError::NothingToReplay(kind.to_string()).into());
        }
        self.mark_session_dirty(key);
        Ok(())
    }
}
