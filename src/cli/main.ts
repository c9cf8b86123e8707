#!/usr/bin/env node
/** wsnic's command line: thin verbs over the config, net and relay modules. */
import { ConfigError, loadConfig, type Loaded } from '../config/load';
import { flagHelp, parseArgs, type ExtraOption, type ParsedArgs } from '../config/flags';
import { createLogger, type Logger } from '../log';
import { setup, teardown } from '../net/setup';
import { runAll } from './run';
import { relayOnly } from './relay';
import { connect, CONNECT_OPTIONS } from './connect';

const USAGE = `wsnic - WebSocket-to-Ethernet relay for browser PC emulators (v86, jor1k)

Usage:
  wsnic [run] [options]        bridge, NAT, dnsmasq and the relay in the foreground (Ctrl-C undoes it all)
  wsnic relay [options]        the relay alone, for wsnic.service (sockets from wsnic.socket, bridge from setup)
  wsnic setup [options]        create the bridge, load the nftables ruleset, write the dnsmasq config; exit
  wsnic teardown [options]     remove what setup created
  wsnic connect URL [options]  join a wsnic network from this host: a TAP relayed to ws(s)://HOST:PORT/

Options (each is also a wsnic.conf key and a WSNIC_<KEY> environment variable):
`;

function help(extra: ExtraOption[]): string {
  return `${USAGE}${flagHelp(extra)}\n`;
}

function load(args: ParsedArgs, log: Logger): Loaded {
  const loaded = loadConfig({ file: args.configFile, env: process.env, flags: args.flags });
  log.setLevel(loaded.config.log_level);
  for (const w of loaded.warnings) log.warning(w);
  return loaded;
}

async function main(argv: string[]): Promise<number> {
  const verbs = ['run', 'relay', 'setup', 'teardown', 'connect'];
  const verb = argv[0] !== undefined && verbs.includes(argv[0]) ? argv.shift()! : 'run';
  const extra = verb === 'connect' ? CONNECT_OPTIONS : [];
  const log = createLogger('info');
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, extra);
    if (args.help) {
      process.stdout.write(help(extra));
      return 0;
    }
    if (verb !== 'connect' && args.positionals.length > 0) throw new ConfigError(`unexpected argument '${args.positionals[0]}' (see --help)`);
    if (verb === 'connect') return await connect(args, log);
    const { config } = load(args, log);
    if (verb === 'setup') setup(config, log);
    else if (verb === 'teardown') teardown(config, log);
    else if (verb === 'relay') return await relayOnly(config, log);
    else return await runAll(config, log);
    return 0;
  } catch (err) {
    log.error((err as Error).message);
    return err instanceof ConfigError ? 2 : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`error: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
