// The bot-on-the-sandbox loop lives in src/sandbox/loop.ts (the fault campaign drives it too).
export * from '../../src/sandbox/loop.ts';
