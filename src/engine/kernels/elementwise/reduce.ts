import source from './workgroup_reduce.wgsl?raw';

/** reduce_sum and reduce_max over a workgroup (workgroup_reduce.wgsl): appended to a kernel that declares `const WG`. */
export const WORKGROUP_REDUCE_WGSL = source;
