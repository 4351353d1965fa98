import threading, time, collections
import tests.bench as b
from tests.support.mariadb import throwaway_server
from sidecar.db import make_engine

Q = """SELECT r.trx_isolation_level, r.trx_query, bt.trx_query, bt.trx_isolation_level, l.lock_mode, l.lock_type, l.lock_index, l.lock_data
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX bt ON bt.trx_id = w.blocking_trx_id
LEFT JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.blocking_lock_id"""

def main():
    with throwaway_server() as s:
        url = b.create_database(s.url)
        eng = make_engine(url)
        b.seed_outbox(eng, 20000)
        ready, results = b.SPAWN.Queue(), b.SPAWN.Queue()
        go = b.SPAWN.Event()
        ws = [b.SPAWN.Process(target=b.claim_worker, args=(url, f"w{i}", ready, go, results)) for i in range(4)]
        for p in ws: p.start()
        for _ in ws: ready.get(timeout=60)
        ins = b.MagentoInserter(url); ins.start()
        seen = collections.Counter(); stop = threading.Event()
        def poll():
            c = b.raw_connect(url); c.autocommit(True)
            with c.cursor() as cur:
                while not stop.is_set():
                    cur.execute(Q)
                    for r in cur.fetchall():
                        seen[tuple(str(x)[:90] for x in r)] += 1
        t = threading.Thread(target=poll); t.start()
        go.set()
        [results.get(timeout=300) for _ in ws]
        stop.set(); t.join(); ins.stop.set(); ins.join()
        for p in ws: p.join()
        for k, v in seen.most_common(10): print(v, k)
if __name__ == "__main__":
    main()
