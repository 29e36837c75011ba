"""CareFleet's development and test SMTP server (aiosmtpd).

Stores every accepted message as one file in a Maildir (DIR/new/...). Recipients listed in the
refusal file are refused at RCPT with the code given there, so tests can make a real server
answer 550 (permanent) or 451 (transient). The refusal file is re-read on every RCPT:

    550 refused@example.test
    451 busy@example.test
"""
import argparse
import asyncio
import os
import signal
import socket
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    def __init__(self, maildir, refuse_file):
        super().__init__(maildir)
        self.refuse_file = refuse_file
        self.counter = 0

    def refusals(self):
        table = {}
        try:
            with open(self.refuse_file, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0].isdigit():
                        table[parts[1].lower()] = int(parts[0])
        except FileNotFoundError:
            pass
        return table

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.refusals().get(address.lower())
        if code is not None:
            text = "mailbox unavailable" if code >= 500 else "try again later"
            return f"{code} {'5.1.1' if code >= 500 else '4.2.1'} <{address}>: {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # Stored as received, as a mail server stores mail, and without an fsync per message.
        # aiosmtpd's Mailbox parses every message into an email.message object, writes it out
        # again and fsyncs it: the parse cost a multipart email with an invite a quarter more
        # than the plain text of the ceiling probe, and the fsync, on a disk the fleet's
        # PostgreSQL is committing to, made the sink's pace depend on the load of the sender's
        # own database. A development sink keeps no mail worth a crash-safe write.
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode("utf-8")
        # X-Peer names the client's end of the connection, as a Received header would: tests
        # read which emails shared a connection.
        peer = session.peer if isinstance(session.peer, tuple) else (str(session.peer), 0)
        trace = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Peer: {peer[0]}:{peer[1]}\r\n"
        ).encode("utf-8")
        self.store((trace + content).replace(b"\r\n", b"\n"))
        return "250 OK"

    def store(self, data):
        """Writes one message into tmp/ and moves it into new/ (the Maildir protocol, names as Python's mailbox makes them)."""
        self.counter += 1
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{self.counter}.{socket.gethostname()}"
        temporary = os.path.join(self.mail_dir, "tmp", name)
        with open(temporary, "wb") as f:
            f.write(data)
        os.rename(temporary, os.path.join(self.mail_dir, "new", name))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--refuse-file", default=None)
    args = parser.parse_args()
    # mailbox.Maildir(create=True) makes tmp/new/cur only when the folder itself is new.
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    refuse_file = args.refuse_file or os.path.join(args.maildir, "refuse")
    controller = Controller(RefusingMailbox(args.maildir, refuse_file), hostname=args.host, port=args.port)
    controller.start()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink on {args.host}:{args.port}, Maildir {args.maildir}", flush=True)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
