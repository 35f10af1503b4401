// The engine registry: the one place that knows which engines exist. Everything else asks it by the
// app ref's engine and gets the Engine port, or a clear error for an engine Rewind cannot drive yet.
import { type AppRef, type EngineKind, appRefText } from '../domain/app-ref.ts';
import { InvalidInputError, UnknownAppError } from '../domain/errors.ts';
import { argoApplicationEngine } from './argo-application.ts';
import type { Engine } from './engine.ts';
import { fluxKustomizationEngine } from './flux-kustomization.ts';

const ENGINES: ReadonlyMap<EngineKind, Engine> = new Map<EngineKind, Engine>([
  [fluxKustomizationEngine.id, fluxKustomizationEngine],
  [argoApplicationEngine.id, argoApplicationEngine],
]);

/** Every engine Rewind drives (the detector watches each one's kind). */
export function registeredEngines(): readonly Engine[] {
  return [...ENGINES.values()];
}

export function isSupportedEngine(engine: EngineKind): boolean {
  return ENGINES.has(engine);
}

/** The engine of an app, or an UnsupportedError naming what is supported (never a silent fallback). */
export function engineFor(app: Pick<AppRef, 'engine'>): Engine {
  const engine = ENGINES.get(app.engine);
  if (!engine) {
    throw new InvalidInputError(
      `Rewind does not drive ${app.engine} apps yet; supported: ${[...ENGINES.keys()].join(', ')} (refs ks/<ns>/<name>, app/<ns>/<name>).`,
    );
  }
  return engine;
}

/**
 * The app a person named is not in the cluster: says how their words were read (a bare
 * `<namespace>/<name>` is a Flux Kustomization), the ref syntax of every engine, and how to list apps.
 */
export function unknownAppError(input: string, app: AppRef, server?: string): UnknownAppError {
  const engine = engineFor(app);
  const syntax = registeredEngines()
    .map((e) => `${appRefText({ engine: e.id, namespace: '<namespace>', name: '<name>' })} (${e.noun})`)
    .join(' or ');
  const lists = registeredEngines()
    .map((e) => `\`${e.listCommand}\``)
    .join(', ');
  return new UnknownAppError(
    input,
    `read as ${appRefText(app)}, and there is no ${engine.noun} "${app.name}" in namespace "${app.namespace}"${server === undefined ? '' : ` of ${server}`}. ` +
      `Name an app as ${syntax}; a bare <namespace>/<name> means a Flux Kustomization. List the apps with ${lists}.`,
  );
}
