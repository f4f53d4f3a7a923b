/** @chainfire/server */
export {};
