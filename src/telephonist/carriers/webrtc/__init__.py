"""Browser phones over WebRTC: signalling on a WebSocket, audio through aiortc, an ES module for pages."""
