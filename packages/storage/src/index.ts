/** @chainfire/storage */
export {};
