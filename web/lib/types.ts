// The wire types the pages use, from the backend's own definitions (types only: nothing of the backend is bundled).
export type { AckFrame, Entry, ErrorFrame, EventView, RepostsView, Revision, ServerFrame, SpikeFrame, StatsFrame } from '../../shared/domain/protocol';
