"""The flags several commands share, declared once, and the parsing of their values.

Also the secret values a run knows (from these flags and the definition) and the scrub
that masks them in anything printed.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from whdebug.errors import WhdebugError, decode_text, read_input, read_stdin

if TYPE_CHECKING:
    from whdebug.engine.session import Analyzer
    from whdebug.model.definition import Definition
    from whdebug.model.request import Capture, Secrets
    from whdebug.model.secrecy import SecretSet
    from whdebug.store.base import CaptureStore

F = TypeVar("F", bound=Callable[..., Any])

STORE_HELP = ("Capture store: an SQLite file, or a postgresql:// URL for a shared store "
              "(default: $WHDEBUG_STORE or .whdebug/captures.db).")
_MIN_SECRET_LENGTH = 4


# --- the flags ----------------------------------------------------------------------------

if TYPE_CHECKING:
    _IntParamType = click.ParamType[int]
else:  # click 8.1 and 8.2 have no generic ParamType
    _IntParamType = click.ParamType

_REQUEST_FILE_SUFFIXES = (".http", ".har", ".json", ".txt", ".rest")


class CaptureId(_IntParamType):
    """A capture's number (`#N` in `whdebug list`). Something else, such as the request file
    or the URL a user meant to give with another flag, is one line saying where it goes:
    `file_hint` (e.g. "whdebug replay --file {}") names the command that reads a file;
    `url_flag` the flag a URL belongs to."""

    name = "capture id"

    def __init__(self, file_hint: str, url_flag: str | None = None) -> None:
        self.file_hint = file_hint
        self.url_flag = url_flag

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            text = str(value)
            try:
                number = int(text.strip().removeprefix("#"))
            except ValueError:
                raise click.UsageError(self._not_an_id(text), ctx) from None
        if number < 1:
            raise click.UsageError(f"capture ids start at 1, got {number}", ctx)
        return number

    def _not_an_id(self, text: str) -> str:
        import shlex

        if self.url_flag is not None and text.lower().startswith(("http://", "https://")):
            return f"{text!r} is a URL, not a capture id: give it with {self.url_flag} {text}"
        hint = self.file_hint.format(shlex.quote(text))
        if os.path.isfile(text):
            return f"{text!r} is a file, not a capture id: {hint}"
        if os.sep in text or text.lower().endswith(_REQUEST_FILE_SUFFIXES):
            return f"{text!r} is a file name, not a capture id (there is no such file): {hint}"
        return f"{text!r} is not a capture id (the # numbers `whdebug list` shows)"




def _apply(func: F, options: Sequence[Callable[[F], F]]) -> F:
    """`func` with `options` in the order listed (as `--help` shows them)."""
    for option in reversed(options):
        func = option(func)
    return func


def secret_options(func: F) -> F:
    """--credentials, --credential and --config: the secrets a run may use."""
    return _apply(func, [
        click.option("--credentials", "credentials_file", metavar="FILE",
                     help="JSON object file: the tenant's installed-app credentials."),
        click.option("--credential", "credential_pairs", metavar="KEY=VALUE", multiple=True,
                     help="One credential (repeatable); wins over --credentials. KEY=@FILE "
                          "reads the value from FILE, KEY=- from standard input (a value "
                          "on the command line is visible to other users in `ps`)."),
        click.option("--config", "config_pairs", metavar="KEY=VALUE", multiple=True,
                     help="Override a global auth.config value (repeatable)."),
    ])


def now_option(func: F) -> F:
    """--now: the time timestamps are judged (or signed) at."""
    return click.option("--now", "now_text", metavar="ISO8601",
                        help="The time to judge timestamps against (default: now, UTC).")(func)


def analysis_options(func: F) -> F:
    """Flags shared by every command that analyses requests (SPEC: common analysis flags)."""
    return _apply(func, [
        secret_options,
        click.option("--missing-part", type=click.Choice(["empty", "skip", "undefined"]),
                     default="empty", show_default=True,
                     help="How a missing composite event part joins."),
        click.option("--nullish", is_flag=True,
                     help="Resolve the secret with ?? (an empty credential is kept) "
                          "instead of ||."),
        now_option,
    ])


def definition_option(help_text: str | None = None, *,
                      required: bool = False) -> Callable[[F], F]:
    """--definition FILE, with the command's own help."""
    return click.option("--definition", "definition_path", metavar="FILE", required=required,
                        help=help_text)


def profile_option(func: F) -> F:
    """--profile NAME: a built-in definition instead of --definition."""
    return click.option("--profile", "profile_name", metavar="NAME",
                        help="A built-in profile instead of --definition: karzoun-tenant "
                             "(--credential secret=... [--credential token=...]).")(func)


def store_option(help_text: str | None = STORE_HELP) -> Callable[[F], F]:
    """--store PATH: the capture store."""
    return click.option("--store", "store_path", metavar="PATH|URL", help=help_text)


def json_option(help_text: str) -> Callable[[F], F]:
    """--json: machine-readable output, described per command."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def show_secrets_option(func: F) -> F:
    """--show-secrets: credential-looking headers and query parameters shown as received."""
    return click.option(
        "--show-secrets", is_flag=True,
        help="Show token, cookie, authorization and other credential-looking header and "
             "query-parameter values as received (masked by default). Values of the "
             "secrets you gave stay masked.")(func)


def verbose_option(help_text: str) -> Callable[[F], F]:
    """-v/--verbose: more detail, described per command."""
    return click.option("-v", "--verbose", is_flag=True, help=help_text)


# --- their values -------------------------------------------------------------------------


def parse_now(value: str | None) -> datetime:
    """`--now`: ISO 8601 with or without Z or an offset (naive means UTC); default: now."""
    if value is None:
        return datetime.now(UTC)
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WhdebugError(f"--now: not an ISO 8601 time ({value})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_pairs(flag: str, pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments; the value is never echoed in an error (it may be a secret)."""
    parsed: dict[str, str] = {}
    for number, pair in enumerate(pairs, 1):
        key, separator, value = pair.partition("=")
        if not separator:
            raise WhdebugError(f'{flag}: expected KEY=VALUE (argument {number} has no "=")')
        if not key.strip():
            raise WhdebugError(f"{flag}: expected KEY=VALUE (argument {number} has no key)")
        parsed[key.strip()] = value
    _refuse_lone_surrogates(parsed, flag)
    return parsed


def _refuse_lone_surrogates(values: dict[str, Any], where: str) -> None:
    """A value with a lone UTF-16 surrogate (`"\\ud800"` in JSON, or bytes that are not UTF-8
    on the command line) has no bytes to sign or send with: a one-line error naming the key
    (never the value, which may be a secret)."""
    for key, value in values.items():
        for text in (key, value):
            try:
                if isinstance(text, str):
                    text.encode("utf-8")
            except UnicodeEncodeError:
                name = key.encode("utf-8", "backslashreplace").decode("utf-8")
                raise WhdebugError(f"{where}: {name}: holds a lone UTF-16 surrogate or bytes "
                                   "that are not UTF-8, which have no UTF-8 bytes to use"
                                   ) from None


def parse_credentials(pairs: Sequence[str]) -> dict[str, str]:
    """`--credential KEY=VALUE`, `KEY=@FILE` (the file's text) or `KEY=-` (standard input).

    One trailing newline of a file or of standard input is dropped (as `echo` writes it).
    A value is never echoed in an error.
    """
    parsed = parse_pairs("--credential", pairs)
    from_stdin = [key for key, value in parsed.items() if value == "-"]
    if len(from_stdin) > 1:
        raise WhdebugError(f"--credential: only one KEY=- can read standard input "
                           f"({', '.join(from_stdin)})")
    for key, value in parsed.items():
        if value == "-":
            data = read_stdin(f"--credential {key}")
            parsed[key] = _credential_text(data, f"--credential {key}=-", "standard input")
        elif value.startswith("@"):
            path = value[1:]
            if not path:
                raise WhdebugError(f"--credential {key}=@FILE: no file name after @")
            data = read_input(path, f"--credential {key}")
            parsed[key] = _credential_text(data, f"--credential {key}=@FILE", path)
    return parsed


def _credential_text(data: bytes, flag: str, where: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WhdebugError(f"{flag}: the value is not UTF-8 text", where) from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise WhdebugError(f"{flag}: the value is empty", where)
    return text


def read_credentials(path: str) -> dict[str, Any]:
    """A credentials file: one JSON object. Errors never quote the file's content."""
    text = decode_text(read_input(path, "credentials"), path, "credentials")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WhdebugError(
            f"{path}:{error.lineno}:{error.colno}: credentials file is not valid JSON "
            f"({error.msg})") from None
    except RecursionError:
        raise WhdebugError("credentials file is nested too deeply to be KEY: VALUE pairs",
                           path) from None
    if not isinstance(data, dict):
        raise WhdebugError("credentials file must hold a JSON object of KEY: VALUE", path)
    _refuse_lone_surrogates(data, f"{path}: credentials file")
    return data


def load_secrets(credentials_file: str | None, credential_pairs: Sequence[str],
                 config_pairs: Sequence[str]) -> Secrets:
    """The secrets of --credentials, --credential and --config (a pair wins over the file)."""
    from whdebug.model.request import Secrets

    credentials: dict[str, Any] = {}
    if credentials_file is not None:
        credentials.update(read_credentials(credentials_file))
    credentials.update(parse_credentials(credential_pairs))
    return Secrets(credentials=credentials, config=parse_pairs("--config", config_pairs))


def _symlink_refusal(path: Path) -> WhdebugError:
    return WhdebugError("refusing to write through a symlink (remove it or give another path)",
                        str(path))


def refuse_symlink(path: str | Path) -> None:
    """An `-o FILE` that is a symlink is refused (checked early, before any work)."""
    if Path(path).is_symlink():
        raise _symlink_refusal(Path(path))


def write_private(path: str | Path, data: bytes, mode: int = 0o600) -> None:
    """Write an `-o FILE`: mode `mode` whatever the umask (0600: it may hold a token or a
    signature), and never through a symlink (one could point at another file). Only a
    regular file gets the mode: `-o /dev/null` or a named pipe is written as it is (a
    chmod of /dev/null, as root, locks every other user out of it)."""
    target = Path(path)
    refusal = _symlink_refusal(target)
    refuse_symlink(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(target, flags, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise refusal from None
        raise WhdebugError(f"cannot write: {error.strerror}", str(target)) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                os.fchmod(handle.fileno(), mode)  # an existing file keeps its mode otherwise
            handle.write(data)
    except OSError as error:
        raise WhdebugError(f"cannot write: {error.strerror}", str(target)) from None


def definition_and_analyzer(definition_path: str | None, profile_name: str | None,
                            secrets: Secrets, show_secrets: bool
                            ) -> tuple[Definition, Analyzer | None]:
    """The definition to replay against (--definition FILE or a built-in --profile NAME), and
    the profile's own analyzer when it is a profile (None: the engine's)."""
    from whdebug.model.definition import load_definition

    if profile_name is None:
        assert definition_path is not None
        return load_definition(definition_path), None
    import functools

    from whdebug.tools.profiles import analyze_profile, get_profile

    profile = get_profile(profile_name)
    return profile.definition, functools.partial(
        analyze_profile, profile=profile, secrets=secrets, show_secrets=show_secrets)


def name_masks(show_secrets: bool) -> SecretSet:
    """The masks of a command that knows no secret values: credential-looking headers and
    query parameters, unless `--show-secrets`."""
    from whdebug.model.secrecy import SecretSet

    return SecretSet(by_name=not show_secrets)


def read_files(files: Sequence[str]) -> list[Capture]:
    """Every capture in the given .http, .har and .json files, in order."""
    from whdebug.formats.read import read_requests

    return read_requests(files)


def one_reader_of_stdin(files: Sequence[str], credential_pairs: Sequence[str]) -> None:
    """`--file -` reads standard input once, and nothing else may read it too."""
    if list(files).count("-") > 1:
        raise WhdebugError("--file - is given twice: standard input can be read only once")
    if "-" in files and any(pair.partition("=")[2] == "-" for pair in credential_pairs):
        raise WhdebugError("--file - and --credential KEY=- both read standard input: "
                           "give the credential as KEY=@FILE, or the request as a file")


DIGEST_AHEAD_MIN = 1 << 20
"""Bodies of this size or more start their SHA-256 (the report's body_sha256) as soon as
they are read, beside the start-up's imports (hashlib drops the GIL, so it runs on the
other core), instead of beside the runtime's HMAC and the body's parse, with which it made
a 64 MiB replay's analysis take 78-93 ms against 41-62 ms without it (a bare HMAC: 58 ms)."""


class FilesReading:
    """The request files, read in a thread while the command goes on importing the engine and
    loading the definition: reading a file and hashing drop the GIL, so a 64 MiB body is read
    beside the start-up instead of after it. `result()` gives the captures, or raises what
    reading raised, where the command asks for them (so its errors keep their order). A HAR
    file's entries are read when asked for (`read_requests_lazily`): worker processes may
    read them instead."""

    def __init__(self, files: Sequence[str]) -> None:
        import threading

        from whdebug.formats.read import read_requests_lazily  # here, never in the thread

        self._captures: Sequence[Capture] = []
        self._error: Exception | None = None

        def run() -> None:
            try:
                self._captures = read_requests_lazily(files)
                if isinstance(self._captures, list):
                    for capture in self._captures:  # see DIGEST_AHEAD_MIN
                        if len(capture.request.body) >= DIGEST_AHEAD_MIN:
                            capture.request.start_body_digest()
            except Exception as error:  # raised again by result()
                self._error = error

        self._thread = threading.Thread(target=run, name="whdebug-read", daemon=True)
        if files:
            self._thread.start()

    def result(self) -> Sequence[Capture]:
        """Every capture in the files, in order, once read."""
        if self._thread.is_alive():
            self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
        return self._captures


def open_store(store_path: str | None, *, create: bool = False) -> CaptureStore:
    """The store to read (an SQLite file is never created unless `create`: a typo must not
    look empty); `--store postgresql://...` (or WHDEBUG_STORE) opens a shared database."""
    from whdebug.errors import StoreError
    from whdebug.store import base

    location = base.store_location(store_path)
    if not create and not base.store_exists(location):
        raise StoreError("capture store not found; capture with `whdebug serve` or "
                         "`whdebug import FILE` first, or give --store PATH", str(location))
    return base.open_store(location, create=create)
