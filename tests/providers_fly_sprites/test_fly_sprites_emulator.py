"""The emulator answers every call the official SDK makes, and the SDK parses each answer."""

from __future__ import annotations

import httpx
import pytest
from sprites import SpritesClient
from sprites.exceptions import AuthenticationError, SpriteError
from sprites.types import NetworkPolicy, PolicyRule, SpriteConfig

from computerouter.emulators.fly_sprites import RunningEmulator

pytestmark = pytest.mark.isolation


def test_the_sdk_drives_a_sprite_end_to_end(emulator: RunningEmulator) -> None:
    client = SpritesClient(emulator.world.token, base_url=emulator.url)
    made = client.create_sprite(
        "cr-ses-one", config=SpriteConfig(region="lhr", cpus=1, ram_mb=512), labels=["a=1"]
    )
    client.create_sprite("other-sprite")
    assert made.primary_region == "lhr"
    assert made.labels == ["a=1"]

    listed = client.list_sprites()
    assert sorted(s.name for s in listed.sprites) == ["cr-ses-one", "other-sprite"]
    mine = client.list_all_sprites(prefix="cr-")
    assert [s.name for s in mine] == ["cr-ses-one"]

    sprite = client.get_sprite("cr-ses-one")
    done = sprite.run("sh", "-c", "echo hi; echo oops >&2; exit 3", capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"hi\n", b"oops\n")
    assert sprite.command("echo", "hi").output() == b"hi\n"

    (sprite.filesystem("/workspace") / "srv.py").write_text(
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = os.environ.get('GREETING', '').encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "http.server.HTTPServer(('127.0.0.1', 8080), H).serve_forever()\n"
    )
    events = list(
        sprite.create_service(
            "web",
            "/usr/bin/python3",
            ["srv.py"],
            http_port=8080,
            env={"GREETING": "hello from the sprite"},
        )
    )
    assert events
    assert events[0].type == "started"
    [service] = sprite.list_services()
    assert (service.name, service.http_port) == ("web", 8080)
    assert service.state is not None
    assert service.state.status == "running"

    url = client.get_sprite("cr-ses-one").url
    assert url
    auth = {"Authorization": f"Bearer {emulator.world.token}"}
    for _ in range(50):
        answer = httpx.get(f"{url}/", headers=auth)
        if answer.status_code == 200:
            break
    assert answer.text == "hello from the sprite"
    assert httpx.get(f"{url}/").status_code == 401

    sprite.run("sh", "-c", "echo v1 > notes.txt", check=True)
    assert [m.type for m in sprite.create_checkpoint("before")][-1] == "complete"
    [checkpoint] = sprite.list_checkpoints()
    assert checkpoint.comment == "before"
    assert sprite.get_checkpoint(checkpoint.id).id == checkpoint.id
    sprite.run("sh", "-c", "echo v2 > notes.txt", check=True)
    assert [m.type for m in sprite.restore_checkpoint(checkpoint.id)][-1] == "complete"
    assert sprite.command("cat", "notes.txt").output() == b"v1\n"

    sprite.update_network_policy(
        NetworkPolicy(rules=[PolicyRule(domain="pypi.org", action="allow")])
    )
    assert sprite.get_network_policy().rules[0].domain == "pypi.org"
    assert client.update_sprite("cr-ses-one", labels=["b=2"]).labels == ["b=2"]

    sprite.stop_service("web")
    sprite.delete_service("web")
    client.destroy_sprite("cr-ses-one")
    client.destroy_sprite("other-sprite")
    assert client.list_sprites().sprites == []
    assert httpx.get(f"{emulator.url}/_admin/unimplemented").json() == []


def test_a_wrong_token_is_refused(emulator: RunningEmulator) -> None:
    with pytest.raises(AuthenticationError):
        SpritesClient("wrong", base_url=emulator.url).list_sprites()


def test_an_unknown_region_is_refused(emulator: RunningEmulator) -> None:
    client = SpritesClient(emulator.world.token, base_url=emulator.url)
    with pytest.raises(SpriteError, match="status 400"):
        client.create_sprite("cr-bad", config=SpriteConfig(region="mars"))
    assert client.list_sprites().sprites == []


def test_an_unimplemented_route_answers_501_and_is_recorded(emulator: RunningEmulator) -> None:
    client = SpritesClient(emulator.world.token, base_url=emulator.url)
    with pytest.raises(SpriteError, match="status 501"):
        client.upgrade_sprite("cr-any")
    assert httpx.get(f"{emulator.url}/_admin/unimplemented").json() == [
        "POST /v1/sprites/cr-any/upgrade"
    ]
