/**
 * How command modules plug into the tool: each registers yargs commands whose handler
 * receives the shared {@link Context} and its own parsed arguments.
 *
 * @module
 */
import type { Argv } from "yargs";
import type { Context } from "./context.js";

/** A command's work. */
export type Run<A> = (ctx: Context, args: A) => Promise<void>;

/** Wraps a {@link Run} into a yargs handler (the tool supplies the context). */
export type Wrap = <A>(run: Run<A>) => (args: unknown) => Promise<void>;

/** A module of commands. */
export type Register = (y: Argv, wrap: Wrap) => Argv;
