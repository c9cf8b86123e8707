/**
 * The data-path e2e tests again with the relay's sessions on the JavaScript path
 * (WSNIC_TEST_DATA_PATH=js, see test/e2e/topology.ts): the path every wss:// client takes, Node
 * owning TLS (test/e2e/tls.test.ts runs wss:// itself). Two paths, one behaviour: the same
 * assertions hold on both.
 */
import t from 'tap';
import { rerun, times } from './rerun';

// What is the JavaScript path's own: its framing and close codes (ws), its flow control, its
// counters; antispoof (and antispoof6, IPv6) shows that every frame, each way, goes through the client's guard. Not
// ratelimit.test.ts: the limits are that guard's too, judged in the same call per frame, and
// their rules are tested on the guard itself (test/unit) and on the native path.
const FILES = ['protocol', 'backpressure', 'antispoof', 'antispoof6', 'status'].map((f) => `test/e2e/${f}.test.ts`);

t.setTimeout(900_000);

t.test('the data-path e2e tests pass on the JavaScript path too', async (t) => {
  const env = { WSNIC_TEST_DATA_PATH: 'js' };
  const r = await rerun(FILES, env);
  const { code, out, files, failures } = r;
  t.comment(times(r));
  t.same(files.filter((f) => !f.ok).map((f) => f.file), [], `every file passed\n${failures}`);
  t.same(files.map((f) => f.file).sort(), [...FILES].sort(), `each file ran${files.length ? '' : `\n${out.slice(-4000)}`}`);
  t.equal(code, 0, 'tap exited 0');
});
