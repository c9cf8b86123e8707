#!/usr/bin/env node
/** wsnic's command line: thin verbs over the config, net and relay modules. */
// TAPs are closed on the thread pool (removing one waits ~20 ms in the kernel): more threads let
// a mass disconnect finish sooner. Must be set before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= '16';
// Before anything loads ws: its receiver and sender take the masking functions at load time.
import '../datapath/wsmask';
import { ConfigError, loadConfig, type Loaded } from '../config/load';
import { parseArgs, type ParsedArgs } from '../config/flags';
import { help, VERBS } from './help';
import { VERSION } from '../version';
import { createLogger, type Logger } from '../log';
import { setupVerb } from './setup';
import { teardownVerb } from './teardown';
import { runAll } from './run';
import { relayOnly } from './relay';
import { connect, CONNECT_OPTIONS } from './connect';
import { health } from './health';
import { status, STATUS_OPTIONS } from './status';
import { disconnect } from './disconnect';
import { forward } from './forward';

function load(args: ParsedArgs, log: Logger): Loaded {
  const loaded = loadConfig({ file: args.configFile, env: process.env, flags: args.flags });
  log.setLevel(loaded.config.log_level);
  for (const w of loaded.warnings) log.warning(w);
  return loaded;
}

async function main(argv: string[]): Promise<number> {
  const verbs = VERBS.map((v) => v.name);
  const verb = argv[0] !== undefined && verbs.includes(argv[0]) ? argv.shift()! : 'run';
  const extra = verb === 'connect' ? CONNECT_OPTIONS : verb === 'status' || verb === 'disconnect' ? STATUS_OPTIONS : [];
  const log = createLogger('info');
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, extra);
    if (args.help) {
      process.stdout.write(help(extra));
      return 0;
    }
    if (args.version) {
      process.stdout.write(`wsnic ${VERSION}\n`);
      return 0;
    }
    if (!['connect', 'status', 'disconnect', 'forward'].includes(verb) && args.positionals.length > 0) throw new ConfigError(`unexpected argument '${args.positionals[0]}' (see --help)`);
    if (verb === 'connect') return await connect(args, log);
    if (verb === 'health') return await health(loadConfig({ file: args.configFile, env: process.env, flags: args.flags }).config);
    if (verb === 'status' || verb === 'disconnect' || verb === 'forward') {
      const quiet = loadConfig({ file: args.configFile, env: process.env, flags: args.flags }).config;
      return await (verb === 'status' ? status(quiet, args) : verb === 'forward' ? forward(quiet, args) : disconnect(quiet, args));
    }
    const { config, notices } = load(args, log);
    if (verb === 'setup') return setupVerb(config, log);
    if (verb === 'teardown') return teardownVerb(config, log);
    if (verb === 'relay') return await relayOnly(config, log);
    return await runAll(config, log, notices);
  } catch (err) {
    log.error((err as Error).message);
    return err instanceof ConfigError ? 2 : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A failure (logged already) ends the process now: a relay that failed half-way through
    // starting may still hold listening sockets that would keep Node running, doing nothing.
    if (code !== 0) process.exit(code);
  },
  (err: Error) => {
    process.stderr.write(`error: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
