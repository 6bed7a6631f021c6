"""Live research feeds: each fetches items over HTTP and reports why it cannot when it cannot."""
