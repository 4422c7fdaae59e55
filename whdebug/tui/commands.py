"""Every whdebug action in the command palette (ctrl+p), with its key.

Actions run on the screen the palette was opened from (the main screen owns them); an
`app.` prefix runs one on the app.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Filter captures", "/", "filter"),
    ("Follow newest capture", "f", "follow"),
    ("Export capture (http, har, curl, json)", "e", "export"),
    ("Copy capture as curl", "c", "copy_curl"),
    ("Re-send capture to a URL", "r", "resend"),
    ("Load definition", "d", "load_definition"),
    ("Try a secret", "s", "try_secret"),
    ("Delete capture", "x", "delete"),
    ("Deliveries and retries (timeline by delivery id)", "v", "deliveries"),
    ("Switch body view (pretty, raw, hex)", "b", "body_mode"),
    ("Show Pipeline tab", "1", "show_tab('pipeline')"),
    ("Show Signature tab", "2", "show_tab('signature')"),
    ("Show Event tab", "3", "show_tab('event')"),
    ("Show Request tab", "4", "show_tab('request')"),
    ("Show Definition tab", "5", "show_tab('definition')"),
    ("Show Response tab (your app's answer)", "6", "show_tab('response')"),
    ("Mark capture for a diff", "m", "mark"),
    ("Diff the marked capture with the selected one", "=", "compare"),
    ("Edit, re-sign and send capture", "o", "edit"),
    ("Send sample deliveries, one per trigger, to the receiver", "", "send_samples"),
    ("Reload definition and credentials", "", "reload"),
    ("Clear filter", "", "clear_filter"),
    ("Quit", "q", "app.quit"),
)


class WhdebugCommands(Provider):
    async def discover(self) -> Hits:
        for title, key, action in ACTIONS:
            yield DiscoveryHit(title, partial(self.app.run_action, action, self.screen),
                               help=f"key: {key}" if key else None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, key, action in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title),
                          partial(self.app.run_action, action, self.screen),
                          help=f"key: {key}" if key else None)
