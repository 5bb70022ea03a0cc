"""The configuration file: defaults, validation with one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipline.config import Config, ConfigError, config_keys, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sipline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_the_documented_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.server.listen == ("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060")
    assert config.server.data_dir == "sipline-data"
    assert config.admin.listen == "127.0.0.1:8080"
    assert config.calls.call_timeout == 30


def test_a_full_file_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[server]
listen = ["udp:127.0.0.1:5070", "tls:0.0.0.0:5071"]
domains = ["example.com"]
mode = "proxy"

[auth]
trusted_networks = ["10.0.0.0/8"]

[[dialplan]]
match = "^(1\\\\d{3})$"
actions = ["bridge user/$1"]
""",
        )
    )
    assert config.server.listen == ("udp:127.0.0.1:5070", "tls:0.0.0.0:5071")
    assert config.server.mode == "proxy"
    assert config.auth.trusted_networks == ("10.0.0.0/8",)
    assert config.dialplan[0]["actions"] == ["bridge user/$1"]


def test_command_line_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nlisten = ["udp:127.0.0.1:5070"]\ndata_dir = "x"\n')
    config = load_config(path, server={"listen": ["tcp:127.0.0.1:6000"], "data_dir": None})
    assert config.server.listen == ("tcp:127.0.0.1:6000",)
    assert config.server.data_dir == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nlisen = []\n", "server.lisen: unknown key; did you mean 'listen'?"),
        ("[servr]\n", "unknown section [servr]; did you mean 'server'?"),
        ('[server]\nlisten = ["udp:1.2.3:5060"]\n', "server.listen[0]: bad listener"),
        ('[server]\nmode = "router"\n', "server.mode: 'router' is not one of b2bua, proxy"),
        ("[calls]\ncall_timeout = -1\n", "calls.call_timeout: must be a whole number >= 0"),
        ("[auth]\ninvite = 1\n", "auth.invite: must be true or false"),
        ('[media]\nrtp_ports = "5-4"\n', "media.rtp_ports:"),
        ('[admin]\nlisten = "8080"\n', "admin.listen:"),
        ('[auth]\ntrusted_networks = ["10.0.0.0/33"]\n', "auth.trusted_networks[0]:"),
        ("[registrar]\nmin_expires = 9000\n", "registrar: need min_expires"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, text))
    assert any(expected in problem for problem in excinfo.value.problems), excinfo.value.problems
    assert all("\n" not in problem for problem in excinfo.value.problems)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_readme_documents_every_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [key for key in config_keys() if f"`{key}`" not in readme]
    assert not missing, f"README lacks: {missing}"


def test_a_broken_dialplan_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[[dialplan]]\nmatch = "^1"\nactions = ["brige user/1000"]\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert any(problem.startswith("dialplan[0].actions[0]") for problem in excinfo.value.problems)
