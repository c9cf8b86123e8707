/**
 * The fork server's process (see forkserver.ts): a child started before any TAP exists, which
 * runs `nft` and `ip` for the relay and sends back what they printed. Its forks copy no TAP.
 */
import { execTool, type ToolRequest } from './forkserver';

process.on('message', (req: ToolRequest) => execTool(req, (reply) => process.send?.(reply)));
process.on('disconnect', () => process.exit(0)); // the relay is gone
