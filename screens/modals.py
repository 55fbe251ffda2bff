"""Modal screens: confirmations, the custom split, choosing a revision, help, jump."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from widgets.palette import ACTIVE_STRONG, ALARM

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical, {name} > VerticalScroll {{
    width: 80; max-width: 95%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2;
}}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} .hint {{ color: $text-muted; margin-top: 1; }}
{name} .danger {{ border: thick $error; }}
"""


class ConfirmTraffic(ModalScreen[bool]):
    """Confirm a traffic change. Production: type the service name, then enter. Elsewhere: y."""

    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmTraffic")
    BINDINGS = [
        Binding("y", "confirm", "confirm", id="confirm"),
        Binding("n", "cancel", "cancel", show=False, id="cancel_no"),
        Binding("escape", "cancel", "cancel", id="cancel"),
    ]

    def __init__(self, target_key: str, plan: str, *, production: bool, service: str):
        super().__init__()
        self.target_key = target_key
        self.plan = plan
        self.production = production
        self.service = service

    def compose(self) -> ComposeResult:
        with Vertical(classes="danger" if self.production else ""):
            yield Label(f"{self.target_key}: change traffic?", classes="title")
            yield Static(Text(self.plan))
            if self.production:
                yield Static(Text(f"⚑ PRODUCTION — type the service name ({self.service}) and press enter", style=ALARM))
                yield Input(placeholder=self.service, id="typed")
                yield Static("esc cancels; a wrong name changes nothing", classes="hint")
            else:
                yield Static("y confirm · n / esc cancel", classes="hint")

    def on_mount(self) -> None:
        if self.production:
            self.query_one("#typed", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm" and self.production:
            return False  # in production `y` is just a letter of the name
        return True

    @on(Input.Submitted, "#typed")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.service:
            self.dismiss(True)
        else:
            self.notify(f"“{event.value}” is not {self.service}: nothing changed", severity="warning")
            self.dismiss(False)

    def action_confirm(self) -> None:
        if not self.production:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class SplitInput(ModalScreen[int | None]):
    """Ask for the candidate's percent (1..99)."""

    DEFAULT_CSS = MODAL_CSS.format(name="SplitInput")
    BINDINGS = [Binding("escape", "cancel", "cancel", id="cancel")]

    def __init__(self, candidate: str, current: int):
        super().__init__()
        self.candidate = candidate
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"custom split: percent of traffic for {self.candidate}", classes="title")
            yield Static(f"now {self.current} %; stable gets the rest")
            yield Input(placeholder="1..99", id="percent", type="integer")
            yield Static("enter to continue (a confirmation follows) · esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#percent", Input).focus()

    @on(Input.Submitted, "#percent")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            value = int(event.value)
        except ValueError:
            value = -1
        if not 1 <= value <= 99:
            self.notify("give the candidate 1..99 %", severity="warning")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseRevision(ModalScreen[str | None]):
    """Pick the revision to roll back to (the stable one first). The list sits in the top 60 % and
    toasts keep to the bottom 30 % (scrolling there): none covers the revision about to be chosen."""

    DEFAULT_CSS = MODAL_CSS.format(name="ChooseRevision") + """
    ChooseRevision { align: center top; }
    ChooseRevision > Vertical { margin-top: 1; max-height: 60%; }
    ChooseRevision #textual-toastrack { max-height: 30%; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel", id="cancel")]

    HINT = "enter choose (a confirmation follows) · esc cancel"

    def __init__(self, title: str, choices: Sequence[tuple[str, str]]):
        super().__init__()
        self.title_text = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="choices")
            yield Static(self.HINT, classes="hint")

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        options.highlighted = 0
        options.focus()


    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitDuringRollout(ChooseRevision):
    """`q` while this console drives an automatic rollout: hold it where it is, roll it back, or stay."""

    DEFAULT_CSS = MODAL_CSS.format(name="QuitDuringRollout")
    HINT = "enter choose · esc cancel (keep the rollout running)"
    HOLD = "hold"
    ROLLBACK = "rollback"

    def __init__(self, services: Sequence[str]):
        super().__init__(
            f"this console drives the rollout of {', '.join(services)}: quit how?",
            [
                (self.HOLD, "hold: pause it where it is (traffic stays, lease released; resume later), then quit"),
                (self.ROLLBACK, "roll back: stable gets 100 % again, then quit"),
                ("cancel", "cancel: keep the rollout running"),
            ],
        )


class JumpTo(ModalScreen[str | None]):
    """`:` — type part of a service or environment name; enter jumps there."""

    DEFAULT_CSS = MODAL_CSS.format(name="JumpTo")
    BINDINGS = [Binding("escape", "cancel", "cancel", id="cancel")]

    def __init__(self, choices: Sequence[tuple[str, str]]):
        super().__init__()
        self.choices = list(choices)  # (value, label); values: "env/service" or "env:NAME"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("jump to a service or environment", classes="title")
            yield Input(placeholder="name…", id="jump")
            yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="jump-choices")

    def on_mount(self) -> None:
        self.query_one("#jump", Input).focus()

    @on(Input.Changed, "#jump")
    def _narrow(self, event: Input.Changed) -> None:
        options = self.query_one("#jump-choices", OptionList)
        options.clear_options()
        needle = event.value.lower()
        options.add_options([Option(label, id=value) for value, label in self.choices if needle in label.lower()])
        if options.option_count:
            options.highlighted = 0

    @on(Input.Submitted, "#jump")
    def _submit(self, event: Input.Submitted) -> None:
        options = self.query_one("#jump-choices", OptionList)
        if options.option_count:
            index = options.highlighted or 0
            self.dismiss(options.get_option_at_index(index).id)
        else:
            self.notify(f"nothing matches “{event.value}”", severity="warning")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """`?` — the keys of the view underneath, as they are bound now (after remapping): what each does,
    then the id that `[keys]` in config.toml remaps it by."""

    DEFAULT_CSS = MODAL_CSS.format(name="HelpScreen") + "HelpScreen > VerticalScroll { width: 110; }"
    BINDINGS = [
        Binding("escape", "close", "close", id="close"),
        Binding("question_mark", "close", "close", show=False, id="close_help"),
        Binding("q", "close", "close", show=False, id="close_q"),
    ]

    def __init__(self, title: str, rows: Sequence[tuple[str, str | Text, str]], notes: Sequence[str | Text] = ()):
        super().__init__()
        self.title_text = title
        self.rows = list(rows)  # (keys, what it does, binding id)
        self.notes = list(notes)

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_edge=False, header_style="dim")
        table.add_column("key", style=ACTIVE_STRONG, justify="right", no_wrap=True)
        table.add_column("what it does", ratio=1)
        table.add_column("[keys] id", style="dim", no_wrap=True)
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        with VerticalScroll():
            yield Label(self.title_text, classes="title")
            yield Static(table)
            for note in self.notes:
                yield Static(note if isinstance(note, Text) else Text(note, style="dim"))
            yield Static("esc / ? close · ctrl+p command palette · remap a key in config.toml: [keys] ID = \"KEY\"",
                         classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
