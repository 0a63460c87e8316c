// What every scenario hands back: its tables for the terminal, its raw numbers for the JSON, and its targets, met or not.
import type { Table } from './table';

export interface Target {
  scenario: string;
  name: string;
  /** The target as the issue states it. */
  target: string;
  measured: string;
  met: boolean;
  /** When not met: what bounds it on this machine. */
  bound?: string;
}

export interface ScenarioReport {
  name: string;
  tables: Table[];
  targets: Target[];
  data: unknown;
  seconds: number;
}

export const ratio = (a: number, b: number): number => (b === 0 ? NaN : a / b);
