/** @chainfire/api */
export {};
