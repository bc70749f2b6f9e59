#!/usr/bin/env python3
"""Webhook throughput: signed events with distinct ids posted to a real `storefront` binary.

Starts the binary (demo mode, fresh SQLite database in a temp dir, a known webhook secret),
posts N signed events from C keep-alive connections, and prints events per second. Each event is
recorded in `stripe_events` in its own write transaction, so this measures the verify + record
path. Events of a type the shop does not act on are used: checkout events would also wait on
the emulator's API, which is not what is measured here.

    scripts/bench-webhooks.py [--bin target/release/storefront] [--events 5000] [--concurrency 16]
"""
import argparse, hashlib, hmac, http.client, json, os, shutil, socket, subprocess, tempfile, threading, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/storefront")
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    secret = "whsec_bench_" + os.urandom(8).hex()
    tmp = tempfile.mkdtemp()
    port, emu = free_port(), free_port()
    env = dict(os.environ, BIND=f"127.0.0.1:{port}", EMULATOR_BIND=f"127.0.0.1:{emu}", EMULATOR_DB=":memory:",
               DATABASE_URL=f"sqlite://{tmp}/shop.db", STRIPE_WEBHOOK_SECRET=secret, RUST_LOG="warn")
    env.pop("STRIPE_SECRET_KEY", None)
    proc = subprocess.Popen([args.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        ok, failed = [0], [0]
        lock = threading.Lock()
        counter = iter(range(args.events))

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = json.dumps({"id": f"evt_bench_{i}", "object": "event", "api_version": "2026-09-30.endive",
                                   "created": int(time.time()), "data": {"object": {"id": f"thing_{i}", "object": "thing"}},
                                   "livemode": False, "pending_webhooks": 1,
                                   "request": {"id": None, "idempotency_key": None}, "type": "thing.happened"})
                t = int(time.time())
                sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
                conn.request("POST", "/webhooks/stripe", body=body,
                             headers={"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"})
                status = conn.getresponse()
                status.read()
                with lock:
                    (ok if status.status == 200 else failed)[0] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        print(f"{ok[0]} events recorded, {failed[0]} failed, in {elapsed:.2f} s: "
              f"{ok[0] / elapsed:.0f} events/s ({args.concurrency} connections, SQLite)")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
