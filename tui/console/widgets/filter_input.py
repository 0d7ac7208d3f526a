"""FilterInput: a list's filter field that hands the focus back to the list the moment enter is read.

Textual routes a key to the widget focused when the app reads it, and the
Input's own enter (a binding) runs only once the key has bubbled back up to
the app: on a busy machine `/quick`, enter, `s` put the `s` in this field's
queue before enter had moved the focus ("no preset matches 'quicks'").  So
enter moves the focus at once, and a key that this field reads after its
enter (in its own queue: after the Submitted that enter posted) was typed for
the list, and goes there.  Keys queued here before the enter stay filter text.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FilterInput(Input):
    def __init__(self, *, list_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.list_id = list_id  # the widget that enter (and escape) give the focus back to
        self._left = False  # enter or escape has been read here: later keys are not the filter's

    async def _on_key(self, event: events.Key) -> None:
        if self._left and self.screen.focused is not self:  # typed after enter, for the list
            event.stop()
            event.prevent_default()
            (self.screen.focused or self.screen).post_message(events.Key(event.key, event.character))
            return
        if event.key == "enter":  # at once, not once the key has bubbled up to the binding
            event.stop()
            event.prevent_default()
            self._leave()
            self._left = True
            self.post_message(self.Submitted(self, self.value))
            return
        if event.key == "escape":  # then on to the screen's binding (clear the filter)
            self._leave()
            self._left = True
            return
        await super()._on_key(event)

    async def action_submit(self) -> None:
        """The enter binding: reached when enter went to the list and the focus had come here by the
        time the app read it.  Keys already queued here then are still the filter's: the Submitted
        posted now marks where they end."""
        self._leave()
        self.post_message(self.Submitted(self, self.value))

    def _on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input is self:
            self._left = self.screen.focused is not self

    def _on_focus(self, event: events.Focus) -> None:
        self._left = False
        super()._on_focus(event)

    def _leave(self) -> None:
        self.screen.set_focus(self.screen.query_one(f"#{self.list_id}"))
