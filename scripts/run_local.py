"""`make run`: migrate, load demo data, start Redis (embedded unless REDIS_URL), web and worker."""

from __future__ import annotations

import os
import signal
import subprocess  # noqa: S404
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.config import DEFAULT_INSTANCE  # noqa: E402
from portal.demo import DEMO_PASSWORD, DEMO_USERS  # noqa: E402
from portal.redis_embedded import EmbeddedRedis  # noqa: E402

FLASK = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "portal"]


def main() -> int:
    env = dict(os.environ)
    instance = Path(env.setdefault("INSTANCE_PATH", str(DEFAULT_INSTANCE)))
    port = env.get("PORT", "5000")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(instance)
        env["REDIS_URL"] = redis.start()
        print(f"Embedded Redis on {env['REDIS_URL']}")
    children: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([*FLASK, "db", "upgrade"], env=env, check=True)  # noqa: S603
        loaded = subprocess.run(  # noqa: S603
            [*FLASK, "demo", "load"], env=env, check=True, stdout=subprocess.PIPE, text=True
        )
        # The logins are printed below; the line on the demo trials (how many, from where) here.
        demo_lines = [line for line in loaded.stdout.splitlines() if line.startswith("Demo trials")]
        print(*demo_lines, sep="\n", flush=True)
        children.append(subprocess.Popen([*FLASK, "worker"], env=env))  # noqa: S603
        # The daily recompute of date-driven statuses (upcoming -> due_soon -> overdue).
        children.append(subprocess.Popen([*FLASK, "obligations", "cron"], env=env))  # noqa: S603
        children.append(
            subprocess.Popen(  # noqa: S603
                [
                    str(ROOT / ".venv" / "bin" / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                    "wsgi:app",
                ],
                env=env,
                cwd=ROOT,
            )
        )
        time.sleep(1.5)
        print("\n" + "=" * 72)
        print(f"Trial Transparency Portal: http://127.0.0.1:{port}/")
        print(*demo_lines, sep="\n")
        print(f"Demo logins (password for every one: {DEMO_PASSWORD}):")
        for role, (email, _name, _org_role) in DEMO_USERS.items():
            print(f"  {role:<20} {email}")
        print("Press Ctrl-C to stop the portal, its worker, scheduler and Redis.")
        print("=" * 72 + "\n", flush=True)
        next_sweep = time.monotonic() + 60
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
            if time.monotonic() >= next_sweep:  # re-enqueue jobs saved while Redis was away, etc.
                subprocess.run([*FLASK, "jobs", "sweep"], env=env, stdout=subprocess.DEVNULL)  # noqa: S603
                next_sweep = time.monotonic() + 60
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis:
            redis.stop()
        print("Stopped.")


if __name__ == "__main__":
    sys.exit(main())
