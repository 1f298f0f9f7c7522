"""A tiny SMTP server for the tests (standard library only): enough of RFC 5321 for
smtplib, which Django's SMTP backend uses: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.

    with SmtpReceiver() as smtp:
        ... send to 127.0.0.1:smtp.port ...
        smtp.messages  # [(mail_from, [rcpt, ...], email.message.Message)]

`refuse_next` makes the next N messages fail with a 451 after DATA (a temporary error,
as a mail server that is overloaded answers), to exercise retries.
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading


class _Session(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: SmtpReceiver = self.server.receiver
        self.reply("220 localhost test SMTP receiver")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip(), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    chunk = self.rfile.readline(65536)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with server.lock:
                    refuse = server.refuse_next > 0
                    if refuse:
                        server.refuse_next -= 1
                if refuse:
                    self.reply("451 Try again later")
                else:
                    message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                    with server.lock:
                        server.messages.append((sender.strip("<>"), recipients, message))
                    self.reply("250 OK queued")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpReceiver:
    def __init__(self, host: str = "127.0.0.1"):
        self.server = _Server((host, 0), _Session)
        self.server.receiver = self
        self.port = self.server.server_address[1]
        self.messages: list = []
        self.refuse_next = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SmtpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
