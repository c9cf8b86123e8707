/**
 * For killed.test.ts only (no *.test.ts: the suite does not run it alone): a test with a Docker
 * engine in a namespace of its own running a container, which then waits to be killed. Its data
 * root is its own (the base image only), so it never waits for docker.test.ts's engine or build.
 */
import t from 'tap';
import { Engine } from './docker';
import { Topology } from '../e2e/topology';

t.setTimeout(10 * 60_000);

t.test('a container runs in a private engine until this test is killed', async (t) => {
  const topo = new Topology();
  let engine: Engine | undefined;
  t.teardown(async () => {
    await engine?.stop();
    await topo.cleanup();
  });
  // With a bridge (docker0) and the container's veth in the namespace: all of it must go too.
  engine = await Engine.start(`${topo.prefix}k`, topo.ns('dhost'), '/var/tmp/wsnic-docker-killed');
  const imp = await engine.importBase(5 * 60_000);
  if (imp) t.equal(imp.code, 0, `docker import: ${imp.stderr}`);
  const run = engine.docker(['run', '-d', 'debian:bookworm-slim', 'sleep', 'infinity']);
  t.equal(run.code, 0, `docker run: ${run.stderr}`);
  t.comment(`container ${run.stdout.trim().slice(0, 12)} up; waiting to be killed`);
  await new Promise(() => {}); // tap's timeout ends it if nobody does
});
