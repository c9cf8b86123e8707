/**
 * The relay's tool runner (see tools.ts): a child started before any TAP exists, which runs
 * `nft` and `ip` for it and sends back what they printed. Its own forks copy no TAP.
 */
import { execTool, type ToolRequest } from './tools';

process.on('message', (req: ToolRequest) => execTool(req, (reply) => process.send?.(reply)));
process.on('disconnect', () => process.exit(0)); // the relay is gone
