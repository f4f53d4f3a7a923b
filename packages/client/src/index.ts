/** @chainfire/client */
export {};
