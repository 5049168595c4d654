"""``manage.py stripe_standin``: serve the loopback Stripe stand-in until interrupted."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from payments.standin import StandinServer


class Command(BaseCommand):
    help = (
        "Serve the Stripe test stand-in (a stateful loopback imitation of the Stripe API "
        "subset the payments app uses) and deliver signed events to the webhook URLs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.STRIPE_STANDIN_PORT)
        parser.add_argument(
            "--api-key", default=None, help="the one secret key accepted (default: any sk_test_…)"
        )
        parser.add_argument("--webhook-url", default=None, help="platform events go here")
        parser.add_argument("--webhook-secret", default=settings.STRIPE_WEBHOOK_SECRET)
        parser.add_argument(
            "--connect-webhook-url", default=None, help="connected accounts' events go here"
        )
        parser.add_argument(
            "--connect-webhook-secret",
            default=getattr(settings, "STRIPE_CONNECT_WEBHOOK_SECRET", ""),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("webhook", "connect_webhook"):
            if options[f"{name}_url"] and not options[f"{name}_secret"]:
                self.stderr.write(f"--{name.replace('_', '-')}-url needs a secret to sign with")
                raise SystemExit(2)
        server = StandinServer(
            host=options["host"],
            port=options["port"],
            api_key=options["api_key"],
            webhook_url=options["webhook_url"],
            webhook_secret=options["webhook_secret"],
            connect_webhook_url=options["connect_webhook_url"],
            connect_webhook_secret=options["connect_webhook_secret"],
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            server.start()
        except OSError as exc:
            self.stderr.write(f"cannot listen on {options['host']}:{options['port']}: {exc}")
            raise SystemExit(1) from exc
        self.stdout.write(
            f"Stripe test stand-in listening on {server.base_url} (no real money moves)\n"
            f"  platform events -> {options['webhook_url'] or '(none)'}\n"
            f"  connect events  -> {options['connect_webhook_url'] or '(none)'}"
        )
        self.stdout.flush()
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
