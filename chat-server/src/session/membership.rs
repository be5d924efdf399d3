//! Being in a room: `join` (with recovery from a point in the room's history and an optional
//! filter), `leave` and `history` pages, and the two checks the other requests go through,
//! [`Session::check_readable`] (may read the room) and [`Session::check_joined`] (is in it).

use super::*;

impl Session {
    pub(super) async fn join(
        &mut self,
        room: String,
        since: Option<Since>,
        filter: Option<Box<Query>>,
    ) -> Result<String, ProtocolError> {
        let access = self.visible_access(&room).await?;
        let store = &self.state.store;
        let room: Arc<str> = room.into();
        // Join before reading history: anything stored after the read is then delivered live, and
        // anything in both is dropped by offset in `outbound_to_message`.
        self.state.hub.join(&room, self.id, self.handle.clone());
        // A removal announced between the store's answer and the line above found no member
        // to take out; the hub's copy has it by now.
        if !self.state.hub.acl.allows(&room, &self.viewer()) {
            if !self.rooms.contains_key(&room) {
                self.state.hub.leave(&room, self.id);
            }
            return Err(rooms::no_such_room(&room));
        }
        // The room's events must reach this replica before its history is read.
        self.state.hub.feeds.ready(&room).await;
        let history = store.history(&room, since.as_ref()).await;
        let page = match self.with_counts(&room, history).await {
            Ok(page) => page,
            Err(e) => {
                if !self.rooms.contains_key(&room) {
                    self.state.hub.leave(&room, self.id);
                }
                return Err(unavailable(&self.state.metrics, e).in_room(&room));
            }
        };
        self.state
            .hub
            .started(room.clone(), page.epoch.as_str().into(), page.head)
            .await;
        // Queued, so it follows the `joined` reply.
        let members = crate::presence::members_frame(&self.state, &room);
        self.state.hub.offer(&self.handle, Outbound::Frame(members));
        self.state
            .hub
            .signals
            .room_joined(room.clone(), self.handle.clone());
        if access.private {
            // Queued too, after the `joined` reply.
            let participants = ServerFrame::Participants {
                room: &room,
                participants: &access.participants,
            };
            let frame = Outbound::Frame(participants.to_json().into());
            self.state.hub.offer(&self.handle, frame);
        }
        self.joined_frame(room, page, filter)
    }

    /// Record that this client has `room` up to the page's head (with `filter` from now on), and
    /// build the `joined` frame.
    pub(super) fn joined_frame(
        &mut self,
        room: Arc<str>,
        page: Page,
        filter: Option<Box<Query>>,
    ) -> Result<String, ProtocolError> {
        let frames = search::filtered(filter.as_deref(), page.frames);
        self.rooms.insert(
            room.clone(),
            RoomView {
                epoch: page.epoch.as_str().into(),
                last_sent: page.head,
                filter,
            },
        );
        let messages = frames_array(&frames).map_err(|e| {
            tracing::error!(%room, error = %e, "stored history is not JSON");
            ProtocolError::new(ErrorCode::Internal, "history could not be read")
        })?;
        let online = crate::presence::online(&self.state, &room);
        Ok(ServerFrame::Joined {
            room: &room,
            epoch: &page.epoch,
            offset: page.head,
            messages: &messages,
            recovered: page.recovered,
            online,
            more: page.more,
        }
        .to_json())
    }

    /// A page of a room's history; like every request but `send` it went through
    /// [`Self::admit_request`], and its bytes are charged to the reply budget.
    pub(super) async fn history(
        &mut self,
        room: String,
        cursor: Cursor,
        limit: u32,
    ) -> Result<String, ProtocolError> {
        self.check_readable(&room).await?;
        let fail = |e| unavailable(&self.state.metrics, e).in_room(&room);
        let page = self
            .state
            .store
            .page(&room, cursor, limit)
            .await
            .map_err(fail)?;
        let frames = search::filtered(self.filter_of(&room), page.frames);
        let frames = self.counted(&room, frames).await.map_err(fail)?;
        let messages = frames_array(&frames).map_err(|e| {
            tracing::error!(%room, error = %e, "stored history is not JSON");
            ProtocolError::new(ErrorCode::Internal, "history could not be read")
        })?;
        Ok(ServerFrame::History {
            room: &room,
            epoch: &page.epoch,
            messages: &messages,
            more: page.more,
        }
        .to_json())
    }

    /// Whether this connection may read `room`'s messages: `history`, `search` and every request
    /// about a room's messages ask here. A private room this user may not see is answered like a
    /// room that does not exist (`rooms::no_such_room`).
    pub(super) async fn check_readable(&self, room: &str) -> Result<(), ProtocolError> {
        self.visible_access(room).await.map(drop)
    }

    /// Whether this connection is in `room` and may still see it: `send`, `edit`, `delete`,
    /// `vote`, `typing` and `read` all ask here. A user removed from a private room a moment ago
    /// gets `no_such_room` (the hub took the connection out already; its `removed` notice, still
    /// queued for this connection, makes the session forget the room).
    pub(super) fn check_joined(&self, room: &str, doing: &str) -> Result<(), ProtocolError> {
        if !self.rooms.contains_key(room) {
            return Err(ProtocolError::new(
                ErrorCode::NotJoined,
                format!("join {room} before {doing}"),
            )
            .in_room(room));
        }
        if !self.state.hub.acl.allows(room, &self.viewer()) {
            return Err(rooms::no_such_room(room));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self, room: &str) -> String {
        self.rooms.remove(room);
        self.state.hub.leave(room, self.id);
        ServerFrame::Left { room }.to_json()
    }
}
