"""The banner under the header: store and definition errors, or how to load a definition."""

from __future__ import annotations

from textual.widgets import Static

from whdebug.tui.workspace import Workspace


class Banner(Static):
    """Hidden while there is nothing to say (see app.tcss: `#banner.-shown`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show_state(self, store_error: str | None, workspace: Workspace) -> None:
        messages = []
        if store_error:
            messages.append(f"Capture store: {store_error}")
        messages += [f"Definition error (keeping the last good version): {message}"
                     for message in workspace.definition_errors()]
        if workspace.credentials_error:
            messages.append(f"Credentials (keeping the last good ones): "
                            f"{workspace.credentials_error}")
        info = not messages and workspace.default_definition is None and not any(
            slot.definition for slot in workspace.slots.values())
        if info:
            messages.append("No definition loaded: press d to load one "
                            "(or start with --definition FILE).")
        self.update("\n".join(messages))
        self.set_class(bool(messages), "-shown")
        self.set_class(info, "-info")
